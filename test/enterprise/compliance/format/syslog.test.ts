/**
 * RFC 5424 records, read back by `nsyslog-parser` (npm; header fields, and structured data without
 * escapes, which it does not decode) and by a strict reader of the RFC 5424 §6 ABNF written here
 * (SD-PARAM escapes `\"` `\\` `\]`, plus the documented `\n` `\r` `\xHH`). Every signal field
 * round-trips; cef, leef and jsonl ride in MSG.
 */
import t from 'tap'
import fc from 'fast-check'
import parse from 'nsyslog-parser'
import { SYSLOG_SEVERITY } from '../../../../enterprise/compliance/format/fields.js'
import { FORMATTERS, toSyslog } from '../../../../enterprise/compliance/format/index.js'
import { SAMPLE_OPTIONS, sampleSignals } from '../../../../enterprise/compliance/format/samples.js'
import { BOM, DEFAULT_FACILITY, SD_ID, sdValue, syslog } from '../../../../enterprise/compliance/format/syslog.js'
import { SIGNAL_SCHEMA, type Signal } from '../../../../signals/types.js'
import { compact, signalArb } from '../../../helpers/export-signals.js'

interface Rfc5424 { pri: number; version: number; timestamp: string; hostname: string; appName: string; procId: string; msgId: string; sd: Array<{ id: string; params: Array<[string, string]> }>; msg: string | undefined; bom: boolean }

function nonAscii(s: string): boolean {
  return [...s].some((c) => c.codePointAt(0)! > 0x7f)
}

/** Reverses the documented control-character escapes (`\n`, `\r`, `\xHH`) and `\\`, left to right. */
function unescapeControls(v: string, also: string): string {
  return v.replace(/\\(x[0-9a-f]{2}|.)/g, (m, e: string) => e === 'n' ? '\n' : e === 'r' ? '\r' : e.startsWith('x') && e.length === 3 ? String.fromCharCode(parseInt(e.slice(1), 16)) : also.includes(e) ? e : m)
}

/** A strict RFC 5424 reader (§6: HEADER SP STRUCTURED-DATA [SP MSG]). */
function parse5424(line: string): Rfc5424 {
  const m = /^<(\d{1,3})>(\d{1,2}) (\S+) (\S{1,255}) (\S{1,48}) (\S{1,128}) (\S{1,32}) /.exec(line)
  if (!m) throw new Error(`bad header: ${line.slice(0, 80)}`)
  for (const f of m.slice(3)) if (/[^\x21-\x7e]/.test(f!)) throw new Error(`not PRINTUSASCII: ${f}`)
  let p = m[0].length
  const sd: Rfc5424['sd'] = []
  if (line[p] === '-') p++
  else {
    while (line[p] === '[') {
      p++
      const id = /^[^ =\]"]{1,32}/.exec(line.slice(p))![0]
      p += id.length
      const params: Array<[string, string]> = []
      while (line[p] === ' ') {
        p++
        const name = /^([^ =\]"]{1,32})="/.exec(line.slice(p))
        if (!name) throw new Error(`bad SD-PARAM at ${p}`)
        p += name[0].length
        let raw = ''
        for (;;) {
          const c = line[p++]
          if (c === undefined) throw new Error('unterminated PARAM-VALUE')
          if (c === '\\') raw += c + line[p++]
          else if (c === '"') break
          else if (c === ']') throw new Error('unescaped ] in PARAM-VALUE')
          else raw += c
        }
        params.push([name[1]!, unescapeControls(raw, '"\\]')])
      }
      if (line[p++] !== ']') throw new Error(`SD-ELEMENT not closed at ${p}`)
      sd.push({ id, params })
    }
    if (sd.length === 0) throw new Error('no STRUCTURED-DATA')
  }
  let msg: string | undefined
  let bom = false
  if (p < line.length) {
    if (line[p] !== ' ') throw new Error('MSG not after SP')
    msg = line.slice(p + 1)
    if (msg.startsWith(BOM)) {
      bom = true
      msg = msg.slice(1)
    }
  }
  return { pri: Number(m[1]), version: Number(m[2]), timestamp: m[3]!, hostname: m[4]!, appName: m[5]!, procId: m[6]!, msgId: m[7]!, sd, msg, bom }
}

function signalOf(r: Rfc5424): Signal {
  const el = r.sd.find((e) => e.id === SD_ID)!
  const p = new Map(el.params)
  const protocol = p.get('protocol')
  return compact({
    schema: SIGNAL_SCHEMA,
    id: p.get('id')!,
    time: new Date(Date.parse(r.timestamp)).toISOString(),
    kind: p.get('kind') as Signal['kind'],
    type: p.get('type')!,
    severity: p.get('severity') as Signal['severity'],
    action: p.get('action') as Signal['action'],
    enforcement_mode: p.get('enforcement_mode') as Signal['enforcement_mode'],
    provider: p.get('provider')!,
    sidecar_id: p.get('sidecar_id')!,
    destination: protocol === undefined ? undefined : compact({ host: p.get('dst_host'), ip: p.get('dst_ip'), port: p.has('dst_port') ? Number(p.get('dst_port')) : undefined, protocol: protocol as 'tcp' }),
    isolation: p.get('isolation') as Signal['isolation'],
    tool: p.get('tool'),
    session_id: p.get('session_id'),
    caller: p.get('caller'),
    rule: p.get('rule'),
    reason: unescapeControls(r.msg!, '\\'),
    trace_id: p.get('trace_id'),
    span_id: p.get('span_id'),
    caller_verified: p.has('caller_verified') ? p.get('caller_verified') === 'true' : undefined,
    details: p.has('details') ? JSON.parse(p.get('details')!) as Record<string, unknown> : undefined,
  }) as Signal
}

t.test('every signal type formats as RFC 5424 that nsyslog-parser and the strict reader read back', async (t) => {
  for (const s of sampleSignals()) {
    const line = syslog(s, SAMPLE_OPTIONS)
    t.notMatch(line, /[\r\n]/, `${s.type}: one line`)
    const r = parse5424(line)
    t.same(signalOf(r), s, `${s.type}: every field round-trips`)
    t.same([r.pri, r.version, r.hostname, r.appName, r.procId, r.msgId], [DEFAULT_FACILITY * 8 + SYSLOG_SEVERITY[s.severity], 1, SAMPLE_OPTIONS.hostname, 'mcp-hangar', '-', s.type])
    t.equal(r.timestamp, s.time)
    const n = parse(line)
    t.equal(n.type, 'RFC5424', `${s.type}: nsyslog-parser sees RFC 5424`)
    t.same([n.prival, n.facilityval, n.levelval, n.version, n.ts!.toISOString(), n.host, n.appName, n.messageid], [r.pri, 13, SYSLOG_SEVERITY[s.severity], 1, s.time, SAMPLE_OPTIONS.hostname, 'mcp-hangar', s.type], `${s.type}: nsyslog-parser reads the same header`)
  }
})

t.test('structured data: nsyslog-parser reads an element without escapes as the strict reader does', async (t) => {
  const s: Signal = { ...sampleSignals()[0]!, details: undefined, rule: 'default-deny' }
  const line = syslog(s, SAMPLE_OPTIONS)
  const [el] = parse(line).structuredData!
  t.same(el, { $id: SD_ID, ...Object.fromEntries(parse5424(line).sd[0]!.params) })
  t.equal(el!.id, s.id, 'the dedup key')
})

t.test('SD-PARAM escaping of ", \\ and ], and of control characters, so one record stays one line', async (t) => {
  t.equal(sdValue('a"b\\c]d'), 'a\\"b\\\\c\\]d')
  t.equal(sdValue('l1\nl2\r\x00\x7f\tx'), 'l1\\nl2\\r\\x00\\x7f\tx')
  t.equal(sdValue('\\n'), '\\\\n', 'a literal backslash-n stays distinguishable from a newline')
  const s: Signal = { ...sampleSignals()[7]!, tool: 'x"] forged="1', caller: 'a\\', reason: 'two\nlines \\ and "quotes"' }
  const line = syslog(s, SAMPLE_OPTIONS)
  t.notMatch(line, /[\r\n]/)
  const r = parse5424(line)
  t.same(signalOf(r), s)
  t.equal(r.sd.length, 1, 'no forged element')
  t.notOk(r.sd[0]!.params.some(([k]) => k === 'forged'), 'no forged param')
  // Control: the same value without the RFC's escaping ends the element early.
  const raw = line.replace(sdValue('x"] forged="1'), 'x"] forged="1')
  const broken = parse5424(raw)
  t.equal(new Map(broken.sd[0]!.params).get('tool'), 'x', 'control: unescaped, the element ends at the quote')
  t.notSame(signalOf(broken), s, 'control: and the record no longer reads as the signal')
})

t.test('MSG: a BOM exactly when it holds non-ASCII (RFC 5424 §6.4); none for ASCII', async (t) => {
  const [s] = sampleSignals()
  const ascii = parse5424(syslog({ ...s!, reason: 'plain ascii' }, SAMPLE_OPTIONS))
  t.same([ascii.bom, ascii.msg], [false, 'plain ascii'])
  const utf = syslog({ ...s!, reason: 'Zürich 中 😀' }, SAMPLE_OPTIONS)
  t.ok(utf.includes(` ${BOM}Zürich`), 'BOM right after the SP before MSG')
  t.same(Buffer.from(utf.slice(utf.indexOf(BOM)), 'utf8').subarray(0, 3), Buffer.from([0xef, 0xbb, 0xbf]), 'the BOM is EF BB BF in UTF-8')
  t.same([parse5424(utf).bom, parse5424(utf).msg], [true, 'Zürich 中 😀'])
  const sdOnly = parse5424(syslog({ ...s!, provider: 'Zürich', reason: 'ascii' }, SAMPLE_OPTIONS))
  t.equal(sdOnly.bom, false, 'non-ASCII in SD only needs no BOM')
})

t.test('facility: 13 (log audit) by default, any of 0-23 by option; others refused', async (t) => {
  const [s] = sampleSignals()
  t.equal(parse5424(syslog(s!, SAMPLE_OPTIONS)).pri, 13 * 8 + 3)
  t.equal(parse5424(syslog(s!, { ...SAMPLE_OPTIONS, facility: 16 })).pri, 16 * 8 + 3, 'local0')
  t.equal(parse(syslog(s!, { ...SAMPLE_OPTIONS, facility: 10 })).facility, 'authpriv', 'nsyslog-parser names facility 10')
  t.equal(parse5424(syslog({ ...s!, severity: 'critical' }, { ...SAMPLE_OPTIONS, facility: 0 })).pri, 2)
  for (const bad of [-1, 24, 1.5, NaN]) t.throws(() => syslog(s!, { ...SAMPLE_OPTIONS, facility: bad }), /^facility: expected an integer 0-23/, String(bad))
})

t.test('HOSTNAME and MSGID stay PRINTUSASCII within their lengths', async (t) => {
  const [s] = sampleSignals()
  const r = parse5424(syslog({ ...s!, type: `a_${'x'.repeat(60)}` }, { hostname: 'höst name\n' }))
  t.equal(r.hostname, 'h_st_name_')
  t.equal(r.msgId, `a_${'x'.repeat(30)}`, 'MSGID cut to 32')
  t.equal(parse5424(syslog(s!, { hostname: '' })).hostname, '-', 'an empty host name is the NILVALUE')
})

t.test('cef, leef and jsonl ride in MSG: the element carries the id, MSG is the record verbatim', async (t) => {
  for (const s of sampleSignals()) {
    for (const f of ['cef', 'leef', 'jsonl'] as const) {
      const body = FORMATTERS[f]!(s, SAMPLE_OPTIONS)
      const line = toSyslog(s, body, SAMPLE_OPTIONS)
      const r = parse5424(line)
      t.same(r.sd, [{ id: SD_ID, params: [['id', s.id]] }], `${s.type} ${f}: id only`)
      t.equal(r.msg, body, `${s.type} ${f}: MSG verbatim`)
      t.equal(r.bom, nonAscii(body))
      // nsyslog-parser does not strip the BOM before looking for `CEF:`; the strict reader does.
      const n = parse(line.replace(BOM, ''))
      if (f === 'cef') t.equal(n.fields!.externalId, s.id, `${s.type}: nsyslog-parser reads the CEF in MSG`)
      if (f === 'jsonl') t.same(JSON.parse(r.msg!), s)
    }
  }
  t.throws(() => toSyslog(sampleSignals()[0]!, 'a\nb', SAMPLE_OPTIONS), /^body: a syslog MSG carried in one record may not hold CR or LF/)
})

t.test('property: any valid signal round-trips through RFC 5424, as itself and carrying CEF', async (t) => {
  fc.assert(fc.property(signalArb, fc.integer({ min: 0, max: 23 }), (s, facility) => {
    const line = syslog(s, { hostname: 'agg-1', facility })
    t.notMatch(line, /[\r\n]/)
    const r = parse5424(line)
    t.same(signalOf(r), s)
    t.equal(r.pri, facility * 8 + SYSLOG_SEVERITY[s.severity])
    t.equal(r.bom, nonAscii(r.msg!))
    const n = parse(line)
    t.same([n.prival, n.messageid], [r.pri, r.msgId])
  }), { numRuns: 300 })
})
