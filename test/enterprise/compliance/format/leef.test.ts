/**
 * LEEF:2.0 records, read back by a second implementation written here from the LEEF 2.0 rules (the
 * header's fifth field declares the delimiter, as a character or as hex `xHH`/`0xHH`) and by
 * `nsyslog-parser`'s LEEF reader where no escape is involved. Every signal field round-trips.
 */
import t from 'tap'
import fc from 'fast-check'
import parse from 'nsyslog-parser'
import { CEF_SEVERITY } from '../../../../enterprise/compliance/format/fields.js'
import { FORMATTERS } from '../../../../enterprise/compliance/format/index.js'
import { LEEF_DELIMITER, LEEF_TIME_FORMAT, leef, leefValue } from '../../../../enterprise/compliance/format/leef.js'
import { SAMPLE_OPTIONS, sampleSignals } from '../../../../enterprise/compliance/format/samples.js'
import { HANGAR_VERSION } from '../../../../core/version.js'
import { SIGNAL_SCHEMA, type Signal } from '../../../../signals/types.js'
import { compact, signalArb } from '../../../helpers/export-signals.js'

interface Leef { header: string[]; delimiter: string; attrs: Map<string, string> }

/** The delimiter a LEEF 2.0 header declares: one character, or its code as `xHH` / `0xHH`. */
function delimiterOf(field: string): string {
  const hex = /^0?x([0-9a-fA-F]{2,4})$/.exec(field)
  if (hex) return String.fromCharCode(parseInt(hex[1]!, 16))
  if ([...field].length !== 1) throw new Error(`bad delimiter field ${field}`)
  return field
}

/** Splits at `sep` where it is not escaped with `\`; escapes stay in the pieces. */
function splitUnescaped(s: string, sep: string, max = Infinity): string[] {
  const out: string[] = []
  let cur = ''
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!
    if (out.length < max && c === '\\' && i + 1 < s.length) {
      cur += c + s[++i]
    } else if (out.length < max && c === sep) {
      out.push(cur)
      cur = ''
    } else cur += c
  }
  out.push(cur)
  return out
}

function unescape(v: string, delimiter: string): string {
  return v.replace(/\\(.)/g, (m, c: string) => (c === '\\' || c === delimiter || c === '|' ? c : c === 'n' ? '\n' : c === 'r' ? '\r' : c === 't' ? '\t' : m))
}

/** The second LEEF 2.0 implementation. */
function parseLeef(line: string): Leef {
  const parts = splitUnescaped(line, '|', 6)
  if (parts.length !== 7 || parts[0] !== 'LEEF:2.0') throw new Error('not LEEF:2.0')
  const delimiter = delimiterOf(parts[5]!)
  const attrs = new Map<string, string>()
  for (const a of splitUnescaped(parts[6]!, delimiter)) {
    const eq = a.indexOf('=')
    if (eq <= 0) throw new Error(`attribute without a key: ${a}`)
    const key = a.slice(0, eq)
    if (attrs.has(key)) throw new Error(`duplicate ${key}`)
    attrs.set(key, unescape(a.slice(eq + 1), delimiter))
  }
  return { header: parts.slice(0, 5).map((h) => unescape(h, delimiter)), delimiter, attrs }
}

const SEVERITY_OF = Object.fromEntries(Object.entries(CEF_SEVERITY).map(([k, v]) => [String(v), k]))

function signalOf(r: Leef): Signal {
  const a = r.attrs
  const protocol = a.get('app')
  return compact({
    schema: SIGNAL_SCHEMA,
    id: a.get('signalId')!,
    time: a.get('devTime')!,
    kind: a.get('cat') as Signal['kind'],
    type: r.header[4]!,
    severity: SEVERITY_OF[a.get('sev')!] as Signal['severity'],
    action: a.get('action') as Signal['action'],
    enforcement_mode: a.get('enforcementMode') as Signal['enforcement_mode'],
    provider: a.get('provider')!,
    sidecar_id: a.get('sidecarId')!,
    destination: protocol === undefined ? undefined : compact({ host: a.get('dstHost'), ip: a.get('dst') ?? a.get('hangarDstIp'), port: a.has('dstPort') ? Number(a.get('dstPort')) : undefined, protocol: protocol as 'tcp' }),
    isolation: a.get('isolation') as Signal['isolation'],
    tool: a.get('tool'),
    session_id: a.get('sessionId'),
    caller: a.get('usrName'),
    rule: a.get('policy'),
    reason: a.get('reason')!,
    trace_id: a.get('traceId'),
    span_id: a.get('spanId'),
    caller_verified: a.has('callerVerified') ? a.get('callerVerified') === 'true' : undefined,
    details: a.has('details') ? JSON.parse(a.get('details')!) as Record<string, unknown> : undefined,
  }) as Signal
}

t.test('every signal type formats as LEEF:2.0 that the second implementation reads back', async (t) => {
  for (const s of sampleSignals()) {
    const line = FORMATTERS.leef!(s, SAMPLE_OPTIONS)
    t.notMatch(line, /[\r\n]/, `${s.type}: one line`)
    const r = parseLeef(line)
    t.same(r.header, ['LEEF:2.0', 'MCP Hangar', 'mcp-hangar', HANGAR_VERSION, s.type])
    t.equal(r.delimiter, LEEF_DELIMITER, 'the header declares TAB')
    t.equal(line.split('|')[5], '\t')
    t.same(signalOf(r), s, `${s.type}: every field round-trips`)
    t.same([r.attrs.get('devTimeFormat'), r.attrs.get('sev'), r.attrs.get('identHostName')], [LEEF_TIME_FORMAT, String(CEF_SEVERITY[s.severity]), SAMPLE_OPTIONS.hostname])
    const n = parse(line)
    t.equal(n.type, 'LEEF', `${s.type}: nsyslog-parser sees LEEF`)
    t.same([n.leef!.eventID, n.leef!.delimiter, n.fields!.signalId, n.fields!.devTime], [s.type, '\t', s.id, s.time], `${s.type}: nsyslog-parser reads the id and time`)
  }
})

t.test('devTime is the signal time, which the declared devTimeFormat pattern describes', async (t) => {
  const [s] = sampleSignals()
  const a = parseLeef(leef(s!, SAMPLE_OPTIONS)).attrs
  t.equal(a.get('devTime'), s!.time)
  // yyyy-MM-dd'T'HH:mm:ss.SSSX as a regular expression: the quoted T literal, X an ISO 8601 zone (Z).
  const re = new RegExp('^' + LEEF_TIME_FORMAT.replace("'T'", 'T').replace('yyyy', '\\d{4}').replace(/MM|dd|HH|mm|ss/g, '\\d{2}').replace('SSS', '\\d{3}').replace('X', '(Z|[+-]\\d{2})') + '$')
  t.match(a.get('devTime')!, re)
})

t.test('escaping: TAB (the delimiter), backslash, CR and LF in values; | in the header', async (t) => {
  t.equal(leefValue('a^b\\c\nd\re\tf=g|h'), 'a^b\\\\c\\nd\\re\\tf=g|h')
  const [s] = sampleSignals()
  const line = leef({ ...s!, reason: 'x\tprovider=forged^sev=1', provider: 'p\\', tool: 'tab\there' }, SAMPLE_OPTIONS)
  t.equal(line.split('\t').filter((a) => a.startsWith('provider=')).length, 1, 'a raw TAB split finds one provider')
  const r = parseLeef(line)
  t.same([r.attrs.get('reason'), r.attrs.get('provider'), r.attrs.get('tool'), r.attrs.get('sev')], ['x\tprovider=forged^sev=1', 'p\\', 'tab\there', '8'])
  t.equal(parse(line).fields!.provider, 'p\\\\', 'nsyslog-parser, which does not unescape, still finds the real provider')
  // Control: written without escaping, the TAB in a value forges an attribute.
  const raw = line.replace(leefValue('x\tprovider=forged^sev=1'), 'x\tprovider=forged^sev=1')
  t.throws(() => parseLeef(raw), /duplicate provider/, 'control: the forged attribute appears')
  t.equal(parse(raw).fields!.provider, 'forged^sev', 'control: nsyslog-parser takes the forged provider')
  t.equal(leef({ ...s!, type: 'a|b' }, SAMPLE_OPTIONS).split('|').length, 7 + 1, 'an escaped | in the header')
  t.equal(parseLeef(leef({ ...s!, type: 'a|b' }, SAMPLE_OPTIONS)).header[4], 'a|b')
})

t.test('the second implementation reads hex-declared delimiters too (the forms LEEF 2.0 allows)', async (t) => {
  for (const decl of ['^', 'x5E', '0x5E', 'x5e']) {
    t.equal(parseLeef(`LEEF:2.0|V|P|1|E|${decl}|a=1^b=2`).attrs.get('b'), '2', decl)
  }
  t.equal(parseLeef('LEEF:2.0|V|P|1|E|x09|a=1\tb=2').attrs.get('b'), '2', 'tab as x09')
})

t.test('property: any valid signal round-trips through LEEF', async (t) => {
  fc.assert(fc.property(signalArb, (s) => {
    const line = leef(s, { hostname: 'agg-1' })
    t.notMatch(line, /[\r\n]/)
    t.same(signalOf(parseLeef(line)), s)
  }), { numRuns: 300 })
})

t.test('property: nsyslog-parser reads the same values where no escape is involved', async (t) => {
  const words = fc.array(fc.stringMatching(/^[A-Za-z0-9.:_^\-éü中]{1,8}$/), { minLength: 1, maxLength: 4 }).map((w) => w.join(' '))
  // Based on the samples: nsyslog-parser also splits the attributes at a `|` (it counts seven header fields, as in CEF).
  fc.assert(fc.property(fc.constantFrom(...sampleSignals()), words, words, (s, provider, reason) => {
    const line = leef({ ...s, provider, reason }, { hostname: 'agg-1' })
    const n = parse(line).fields!
    const strict = parseLeef(line).attrs
    for (const k of ['provider', 'signalId', 'sev', 'cat', 'action']) t.equal(n[k], strict.get(k), k)
    t.same([strict.get('provider'), strict.get('reason')], [provider, reason])
    t.same([n.provider, n.reason], [provider, reason])
  }), { numRuns: 100 })
})
