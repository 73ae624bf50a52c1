/**
 * The `syslog` format read by a real receiver: rsyslogd (started here on a loopback port, imtcp
 * with octet-counting framing, `mmpstrucdata` turning structured data into JSON) parses every
 * sample and generated signal, and its SD-PARAMs are the signal's fields with only the
 * documented control-character escapes left (rsyslog applies RFC 5424's three escapes, no more).
 */
import t from 'tap'
import fc from 'fast-check'
import { spawn } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { SAMPLE_OPTIONS, sampleSignals } from '../../../../enterprise/compliance/format/samples.js'
import { SD_ID, sdParams, syslog } from '../../../../enterprise/compliance/format/syslog.js'
import type { Signal } from '../../../../signals/types.js'
import { signalArb } from '../../../helpers/export-signals.js'

async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as { port: number }).port
  await new Promise((r) => s.close(r))
  return port
}

/** A value as a receiver that applies only RFC 5424's escapes sees it: CR, LF and other control characters (TAB excepted) as `\r`, `\n`, `\xHH`. */
function asReceived(v: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return v.replace(/\n/g, '\\n').replace(/[\x00-\x08\x0b-\x1f\x7f]/g, (c) => (c === '\r' ? '\\r' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`))
}

t.test('rsyslogd with mmpstrucdata parses every record into the signal fields, once per id', async (t) => {
  const dir = t.testdir()
  const out = join(dir, 'out.jsonl')
  const port = await freePort()
  writeFileSync(join(dir, 'rsyslog.conf'), [
    `global(workDirectory="${dir}" parser.escapeControlCharactersOnReceive="off")`,
    'module(load="imtcp")',
    'module(load="mmpstrucdata")',
    'template(name="sd" type="string" string="%msgid% %$!%\\n")',
    `ruleset(name="r") { action(type="mmpstrucdata") action(type="omfile" file="${out}" template="sd") }`,
    `input(type="imtcp" port="${port}" address="127.0.0.1" ruleset="r")`,
  ].join('\n') + '\n')
  const rs = spawn('rsyslogd', ['-n', '-f', join(dir, 'rsyslog.conf'), '-i', join(dir, 'rsyslogd.pid')], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  rs.stderr.on('data', (b: Buffer) => (stderr += b.toString()))
  const exited = new Promise((r) => rs.once('exit', r))
  t.teardown(async () => {
    rs.kill('SIGTERM')
    await exited
  })

  const signals: Signal[] = [...sampleSignals(), ...fc.sample(signalArb, { numRuns: 300, seed: 19 })]
  // Control: the same record with one value written without SD-PARAM escaping.
  const control = { ...sampleSignals()[7]!, id: '01938a4e-7c00-7000-8000-0000000000ff', tool: 'x" forged="1' }
  const unescaped = syslog(control, SAMPLE_OPTIONS).replace('tool="x\\" forged=\\"1"', 'tool="x" forged="1"')
  t.not(unescaped, syslog(control, SAMPLE_OPTIONS), 'control record built')
  const body = Buffer.concat([...signals.map((s) => syslog(s, SAMPLE_OPTIONS)), unescaped].map((line) => {
    const m = Buffer.from(line, 'utf8')
    return Buffer.concat([Buffer.from(`${m.length} `), m])
  }))
  let sent = false
  for (let i = 0; i < 100 && !sent; i++) {
    sent = await new Promise<boolean>((resolve) => {
      const c = connect(port, '127.0.0.1', () => c.end(body, () => resolve(true)))
      c.once('error', () => resolve(false))
    })
    if (!sent) await sleep(100)
  }
  t.ok(sent, `connected to rsyslogd (${stderr.trim() || 'no stderr'})`)
  let lines: string[] = []
  for (let i = 0; i < 100; i++) {
    lines = existsSync(out) ? readFileSync(out, 'utf8').split('\n').filter(Boolean) : []
    if (lines.length >= signals.length + 1) break
    await sleep(100)
  }
  t.equal(lines.length, signals.length + 1, 'one record per signal, and the control')
  const byId = new Map<string, Array<Record<string, string>>>()
  const msgids = new Map<string, string>()
  for (const l of lines) {
    const sp = l.indexOf(' ')
    const tree = JSON.parse(l.slice(sp + 1)) as { 'rfc5424-sd': Record<string, Record<string, string>> }
    const el = tree['rfc5424-sd'][SD_ID.toLowerCase()]!
    byId.set(el.id!, [...(byId.get(el.id!) ?? []), el])
    msgids.set(el.id!, l.slice(0, sp))
  }
  for (const s of signals) {
    const got = byId.get(s.id) ?? []
    t.equal(got.length, 1, `${s.type} ${s.id}: exactly once`)
    const want = Object.fromEntries(sdParams(s).map(([k, v]) => [k, asReceived(v)]))
    t.same(got[0], want, `${s.type} ${s.id}: every SD-PARAM as sent`)
    t.equal(msgids.get(s.id), s.type.slice(0, 32), 'MSGID')
  }
  const forged = byId.get(control.id)?.[0]
  t.same([forged?.tool, forged?.forged], ['x', '1'], 'control: unescaped, rsyslog reads a forged parameter')
})
