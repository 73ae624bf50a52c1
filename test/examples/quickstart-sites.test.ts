// The quickstart's offline "internet" (examples/quickstart/sites.mjs) run as a child process, as
// `npm start` runs it: its DNS over UDP and TCP (A records, NXDOMAIN, NOERROR-empty AAAA, FORMERR
// on garbage), each site's page, and, as root, the link holding the sites' addresses and its
// removal on SIGTERM. Each run uses its own DNS port, link name and /24, so it never collides with
// a quickstart running on the same machine. Also: examples/quickstart/hangar.yaml loads.
import t, { type Test } from 'tap'
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { existsSync } from 'node:fs'
import { request } from 'node:http'
import { createServer } from 'node:net'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as dnsPacket from 'dns-packet'
import { loadConfig } from '../../config/load.js'
import { answersOf, makeQuery, rcodeOf, tcpExchange, udpQuery } from '../helpers/dns-server.js'
import { netnsSkip } from '../helpers/netns.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const SITES_MJS = resolve(root, 'examples/quickstart/sites.mjs')
const MARKER = 'a local copy served by the Hangar quickstart'
const GARBAGE = Buffer.from('this is not a DNS message at all')

interface Sites {
  child: ChildProcess
  out: () => string
  /** Resolves with the exit code (or signal) once the child has exited. */
  exited: Promise<number | string>
}

/** Starts sites.mjs and waits for its `sites ready` line (rejects if it exits or takes > 15 s). */
async function startSites(args: string[]): Promise<Sites> {
  const child = spawn(process.execPath, [SITES_MJS, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()))
  const exited = new Promise<number | string>((r) => child.once('exit', (code, sig) => r(code ?? sig ?? -1)))
  await new Promise<void>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`sites.mjs not ready within 15 s:\n${out}`)), 15_000)
    const check = () => {
      if (/^sites ready$/m.test(out)) {
        clearTimeout(timer)
        res()
      }
    }
    child.stdout!.on('data', check)
    void exited.then((c) => {
      clearTimeout(timer)
      rej(new Error(`sites.mjs exited (${c}) before it was ready:\n${out}`))
    })
  })
  return { child, out: () => out, exited }
}

/** A port free on 127.0.0.1 for both UDP and TCP (the DNS server binds both). */
async function freeDnsPort(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const udp = createSocket('udp4')
    const port = await new Promise<number>((r) => udp.bind(0, '127.0.0.1', () => r(udp.address().port)))
    const tcp = createServer()
    const ok = await new Promise<boolean>((r) => {
      tcp.once('error', () => r(false))
      tcp.listen(port, '127.0.0.1', () => r(true))
    })
    await new Promise<void>((r) => udp.close(() => r()))
    if (ok) {
      await new Promise<void>((r) => tcp.close(() => r()))
      return port
    }
  }
  throw new Error('no free port for UDP + TCP')
}

function get(host: string, port: number, hostHeader: string): Promise<{ status: number; body: string }> {
  return new Promise((res, rej) => {
    const req = request({ host, port, path: '/', headers: { host: hostHeader }, timeout: 3000 }, (r) => {
      let body = ''
      r.on('data', (d: Buffer) => (body += d.toString()))
      r.on('end', () => res({ status: r.statusCode ?? 0, body }))
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', rej)
    req.end()
  })
}

function decode(b: Buffer): dnsPacket.DecodedPacket {
  return dnsPacket.decode(b)
}

async function checkDns(t: Test, port: number, table: Record<string, string>): Promise<void> {
  for (const [name, addr] of Object.entries(table)) {
    const udp = decode(await udpQuery(port, makeQuery(name)))
    t.equal(rcodeOf(udp), 'NOERROR', `${name} A over UDP: NOERROR`)
    t.same(answersOf(udp, 'A'), [addr], `${name} A over UDP → ${addr}`)
    const [tcpReply] = await tcpExchange(port, [makeQuery(name.toUpperCase() + '.')])
    t.same(answersOf(decode(tcpReply!), 'A'), [addr], `${name} A over TCP (upper case, trailing dot) → ${addr}`)
  }
  const aaaa = decode(await udpQuery(port, makeQuery('example.com', 'AAAA')))
  t.equal(rcodeOf(aaaa), 'NOERROR', 'AAAA of a known name: NOERROR')
  t.equal((aaaa.answers ?? []).length, 0, 'AAAA of a known name: no answer')
  const nx = decode(await udpQuery(port, makeQuery('not-a-site.example.org')))
  t.equal(rcodeOf(nx), 'NXDOMAIN', 'an unknown name over UDP: NXDOMAIN')
  const [nxTcp] = await tcpExchange(port, [makeQuery('www.example.com')])
  t.equal(rcodeOf(decode(nxTcp!)), 'NXDOMAIN', 'an unknown name (a subdomain of a site) over TCP: NXDOMAIN')

  const garbage = await udpQuery(port, GARBAGE)
  t.equal(garbage.readUInt16BE(0), GARBAGE.readUInt16BE(0), 'garbage over UDP: the reply echoes the id')
  t.equal(garbage.readUInt16BE(2) & 0x800f, 0x8001, 'garbage over UDP: a response with rcode FORMERR')
  const frame = Buffer.alloc(GARBAGE.length + 2)
  frame.writeUInt16BE(GARBAGE.length, 0)
  GARBAGE.copy(frame, 2)
  const [garbageTcp, after] = await tcpExchange(port, [], { raw: Buffer.concat([frame, (() => {
    const q = makeQuery('example.com')
    const f = Buffer.alloc(q.length + 2)
    f.writeUInt16BE(q.length, 0)
    q.copy(f, 2)
    return f
  })()]), expect: 2 })
  t.equal(garbageTcp!.readUInt16BE(2) & 0x800f, 0x8001, 'garbage over TCP: FORMERR')
  t.same(answersOf(decode(after!), 'A'), [table['example.com']], 'the same TCP connection still answers the next query')
}

async function stop(t: Test, s: Sites): Promise<void> {
  s.child.kill('SIGTERM')
  t.equal(await s.exited, 0, 'SIGTERM: sites.mjs exits 0')
}

t.test('examples/quickstart/hangar.yaml loads, and its commands exist', async (t) => {
  const { config, warnings } = loadConfig(resolve(root, 'examples/quickstart/hangar.yaml'), {})
  t.same(warnings, [], 'no unknown fields')
  t.same(Object.keys(config.providers).sort(), ['everything', 'fetch', 'filesystem'])
  t.same(Object.values(config.providers).map((p) => p.listen), ['127.0.0.1:8101', '127.0.0.1:8102', '127.0.0.1:8103'])
  for (const [name, p] of Object.entries(config.providers)) {
    t.ok(existsSync(resolve(root, p.command![1]!)), `${name}: ${p.command![1]} exists`)
    t.equal(p.capabilities.enforcement_mode, 'block', `${name}: block mode`)
  }
  t.equal(config.providers.fetch!.sidecar.address, '11.254.0.1', 'fetch: a public-looking steering address (the fetch server refuses private answers)')
  t.ok(config.providers.everything!.capabilities.tools.deny_list.includes('get-env'), 'everything: get-env is denied')
})

t.test('without root (--loopback): DNS maps every site to 127.0.0.1, pages on high ports', async (t) => {
  const dnsPort = await freeDnsPort()
  // --port-base 0: the kernel picks each site's port (a run of free ports found beforehand could
  // be taken by a parallel test before the script listens).
  const s = await startSites(['--loopback', '--dns', `127.0.0.1:${dnsPort}`, '--port-base', '0'])
  t.teardown(() => s.child.kill('SIGKILL'))
  t.match(s.out(), /need root|--loopback/, 'says why the sites are on loopback')
  await checkDns(t, dnsPort, { 'example.com': '127.0.0.1', 'en.wikipedia.org': '127.0.0.1', 'evil.example.net': '127.0.0.1' })
  for (const name of ['example.com', 'en.wikipedia.org', 'evil.example.net']) {
    const port = Number(new RegExp(`${name.replaceAll('.', '\\.')} → http://127\\.0\\.0\\.1:(\\d+)/`).exec(s.out())?.[1])
    t.ok(port > 0, `${name}: its port is printed (${port})`)
    const r = await get('127.0.0.1', port, name)
    t.equal(r.status, 200, `${name}: 200 on 127.0.0.1:${port}`)
    t.match(r.body, `<h1>${name}</h1>`, `${name}: the page names itself`)
    t.match(r.body, MARKER, `${name}: the page says it is the local copy`)
  }
  await stop(t, s)
})

t.test('as root: a link with one address per site, removed on SIGTERM', { skip: netnsSkip() }, async (t) => {
  const link = `hgqt${process.pid % 100000}`
  const subnet = `198.18.${200 + (process.pid % 50)}`
  const linkExists = () => {
    try {
      execFileSync('ip', ['link', 'show', 'dev', link], { stdio: 'ignore' })
      return true
    } catch {
      return false
    }
  }
  // A stale link of the same name (a crashed earlier run) is removed at start.
  execFileSync('ip', ['link', 'add', link, 'type', 'bridge'])
  t.teardown(() => {
    if (linkExists()) execFileSync('ip', ['link', 'del', 'dev', link])
  })
  const dnsPort = await freeDnsPort()
  const s = await startSites(['--link', link, '--subnet', subnet, '--dns', `127.0.0.1:${dnsPort}`])
  t.teardown(() => s.child.kill('SIGKILL'))
  t.match(s.out(), `removed a stale ${link} link`, 'the stale link was removed first')
  const addrs = execFileSync('ip', ['-4', '-o', 'addr', 'show', 'dev', link]).toString()
  for (const a of [`${subnet}.1/24`, `${subnet}.10/32`, `${subnet}.11/32`, `${subnet}.66/32`]) t.match(addrs, a, `${link} holds ${a}`)
  const table = { 'example.com': `${subnet}.10`, 'en.wikipedia.org': `${subnet}.11`, 'evil.example.net': `${subnet}.66` }
  await checkDns(t, dnsPort, table)
  for (const [name, addr] of Object.entries(table)) {
    const r = await get(addr, 80, name)
    t.equal(r.status, 200, `${name}: 200 on ${addr}:80`)
    t.match(r.body, `<h1>${name}</h1>`, `${name}: the page names itself`)
    t.match(r.body, MARKER, `${name}: the page says it is the local copy`)
  }
  await stop(t, s)
  t.notOk(linkExists(), `${link} is gone after SIGTERM`)
})
