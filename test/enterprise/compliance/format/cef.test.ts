/**
 * CEF:0 records, read back by two parsers that share no code with the formatter: `nsyslog-parser`
 * (npm), and a strict parser of the CEF rules (header `\|` `\\`; extension `\=` `\\` `\n` `\r`)
 * written here. Every signal field round-trips, whatever characters it holds.
 */
import t from 'tap'
import fc from 'fast-check'
import parse from 'nsyslog-parser'
import { cef, cefValue } from '../../../../enterprise/compliance/format/cef.js'
import { CEF_SEVERITY } from '../../../../enterprise/compliance/format/fields.js'
import { FORMATTERS } from '../../../../enterprise/compliance/format/index.js'
import { SAMPLE_OPTIONS, sampleSignals } from '../../../../enterprise/compliance/format/samples.js'
import { HANGAR_VERSION } from '../../../../core/version.js'
import { SIGNAL_SCHEMA, SIGNAL_TYPES, type Signal } from '../../../../signals/types.js'
import { compact, signalArb } from '../../../helpers/export-signals.js'

interface Cef { header: string[]; ext: Map<string, string> }

/** A strict CEF:0 reader: header split at unescaped `|`, extension keys found at ` key=` with an unescaped `=`. */
function parseCef(line: string): Cef {
  if (!line.startsWith('CEF:')) throw new Error('not CEF')
  const header: string[] = []
  let cur = ''
  let i = 0
  for (; i < line.length && header.length < 7; i++) {
    const c = line[i]!
    if (c === '\\') {
      const n = line[++i]
      if (n !== '\\' && n !== '|') throw new Error(`bad header escape \\${n}`)
      cur += n
    } else if (c === '|') {
      header.push(cur)
      cur = ''
    } else cur += c
  }
  if (header.length !== 7) throw new Error('short header')
  const rest = line.slice(i)
  const ext = new Map<string, string>()
  const keyAt = (p: number): string | undefined => /^([A-Za-z0-9_]+)=/.exec(rest.slice(p))?.[1]
  let p = 0
  while (p < rest.length) {
    const key = keyAt(p)
    if (!key) throw new Error(`no key at ${p}: ${rest.slice(p, p + 20)}`)
    p += key.length + 1
    let v = ''
    for (; p < rest.length; p++) {
      const c = rest[p]!
      if (c === '\\') {
        const n = rest[++p]
        if (n === '\\' || n === '=') v += n
        else if (n === 'n') v += '\n'
        else if (n === 'r') v += '\r'
        else throw new Error(`bad extension escape \\${n}`)
      } else if (c === '=') throw new Error(`unescaped = in the value of ${key}`)
      else if (c === ' ' && keyAt(p + 1)) break
      else v += c
    }
    if (ext.has(key)) throw new Error(`duplicate key ${key}`)
    ext.set(key, v)
    p++
  }
  return { header, ext }
}

const LABELS: Record<string, keyof Signal> = { provider: 'provider', tool: 'tool', rule: 'rule', session_id: 'session_id', caller: 'caller', trace_id: 'trace_id', enforcement_mode: 'enforcement_mode', isolation: 'isolation' }
const SEVERITY_OF = Object.fromEntries(Object.entries(CEF_SEVERITY).map(([k, v]) => [String(v), k]))

/** The signal a parsed record describes, from the documented mapping (docs/siem.md). */
function signalOf(r: Cef): Signal {
  const e = r.ext
  const custom: Record<string, string> = {}
  for (const [k, v] of e) {
    const m = /^(cs[1-6]|flexString[12])$/.exec(k)
    if (m) custom[LABELS[e.get(`${k}Label`)!]!] = v
  }
  const protocol = e.get('app')
  return compact({
    schema: SIGNAL_SCHEMA,
    id: e.get('externalId')!,
    time: new Date(Number(e.get('rt'))).toISOString(),
    kind: e.get('cat') as Signal['kind'],
    type: r.header[4]!,
    severity: SEVERITY_OF[r.header[6]!] as Signal['severity'],
    action: e.get('act') as Signal['action'],
    enforcement_mode: custom.enforcement_mode as Signal['enforcement_mode'],
    provider: custom.provider!,
    sidecar_id: e.get('deviceExternalId')!,
    destination: protocol === undefined ? undefined : compact({ host: e.get('dhost'), ip: e.get('dst') ?? e.get('c6a3') ?? e.get('hangarDstIp'), port: e.has('dpt') ? Number(e.get('dpt')) : undefined, protocol: protocol as 'tcp' }),
    isolation: custom.isolation as Signal['isolation'],
    tool: custom.tool,
    session_id: custom.session_id,
    caller: custom.caller,
    rule: custom.rule,
    reason: e.get('reason')!,
    trace_id: custom.trace_id,
    span_id: e.get('hangarSpanId'),
    caller_verified: e.has('hangarCallerVerified') ? e.get('hangarCallerVerified') === 'true' : undefined,
    details: e.has('hangarDetails') ? JSON.parse(e.get('hangarDetails')!) as Record<string, unknown> : undefined,
  }) as Signal
}

t.test('every signal type of the catalogue formats as CEF:0 that both parsers read back', async (t) => {
  const samples = sampleSignals()
  t.same(samples.map((s) => s.type).sort(), Object.keys(SIGNAL_TYPES).sort(), 'one sample per catalogue type')
  for (const s of samples) {
    const line = FORMATTERS.cef!(s, SAMPLE_OPTIONS)
    t.notMatch(line, /[\r\n]/, `${s.type}: one line`)
    const r = parseCef(line)
    t.same(r.header.slice(0, 7), ['CEF:0', 'MCP Hangar', 'mcp-hangar', HANGAR_VERSION, s.type, s.type.replace(/_/g, ' '), String(CEF_SEVERITY[s.severity])], `${s.type}: header`)
    t.same(signalOf(r), s, `${s.type}: every field round-trips`)
    t.equal(r.ext.get('dvchost'), SAMPLE_OPTIONS.hostname)
    t.equal(r.ext.get('outcome'), s.action === 'allowed' || s.action === 'alerted' ? 'success' : 'failure')
    const n = parse(line)
    t.equal(n.type, 'CEF', `${s.type}: nsyslog-parser sees CEF`)
    t.same([n.cef!.version, n.cef!.deviceVendor, n.cef!.deviceProduct, n.cef!.deviceEventClassID, n.cef!.severity], ['CEF:0', 'MCP Hangar', 'mcp-hangar', s.type, String(CEF_SEVERITY[s.severity])])
    t.equal(n.fields!.externalId, s.id, `${s.type}: nsyslog-parser reads externalId, the dedup key`)
    t.equal(n.fields!.rt, String(Date.parse(s.time)))
    t.equal(n.fields!.cs1, s.provider)
  }
})

t.test('the standard keys carry the destination: dst for IPv4, c6a3 for IPv6, proto, request, dpt', async (t) => {
  const [s] = sampleSignals()
  const v4 = parseCef(cef({ ...s!, destination: { host: 'api.example.com', ip: '192.0.2.7', port: 8443, protocol: 'https' } }, SAMPLE_OPTIONS)).ext
  t.same([v4.get('dst'), v4.get('dpt'), v4.get('dhost'), v4.get('proto'), v4.get('app'), v4.get('request'), v4.get('c6a3')], ['192.0.2.7', '8443', 'api.example.com', 'TCP', 'https', 'https://api.example.com:8443', undefined])
  const v6 = parseCef(cef({ ...s!, destination: { ip: '2001:db8::1', port: 53, protocol: 'udp' } }, SAMPLE_OPTIONS)).ext
  t.same([v6.get('dst'), v6.get('c6a3'), v6.get('c6a3Label'), v6.get('proto'), v6.get('request')], [undefined, '2001:db8::1', 'destination_ipv6', 'UDP', undefined])
  const odd = parseCef(cef({ ...s!, destination: { ip: 'not-an-ip', protocol: 'tcp' } }, SAMPLE_OPTIONS)).ext
  t.same([odd.get('dst'), odd.get('c6a3'), odd.get('hangarDstIp')], [undefined, undefined, 'not-an-ip'], 'a value that is no address stays out of dst and c6a3')
  const none = parseCef(cef({ ...s!, destination: undefined }, SAMPLE_OPTIONS)).ext
  t.same(['dst', 'dpt', 'dhost', 'proto', 'app', 'request'].filter((k) => none.has(k)), [], 'no destination keys without a destination')
})

t.test('escaping: header `|` and `\\`, extension `=`, `\\`, CR and LF', async (t) => {
  t.equal(cefValue('a=b\\c\nd\re|f g'), 'a\\=b\\\\c\\nd\\re|f g')
  const [s] = sampleSignals()
  const line = cef({ ...s!, type: 'a|b\\c', reason: 'x=1 cs1=forged\nCEF:0|evil|', provider: 'p\\' }, SAMPLE_OPTIONS)
  t.same(parseCef(line).header.slice(4, 6), ['a|b\\c', 'a|b\\c'], 'header | and \\ escaped (Signature ID and Name)')
  t.ok(line.startsWith('CEF:0|MCP Hangar|mcp-hangar|0.1.0|a\\|b\\\\c|'))
  t.notMatch(line, /[\r\n]/)
  const r = parseCef(line)
  t.equal(r.ext.get('reason'), 'x=1 cs1=forged\nCEF:0|evil|', 'an injected key stays inside the value')
  t.equal(r.ext.get('cs1'), 'p\\', 'a trailing backslash does not swallow the next key')
  // Control: the same value written without escaping is read as a forged key by the same parser.
  const raw = line.replace(cefValue('x=1 cs1=forged\nCEF:0|evil|'), 'x=1 cs1=forged')
  t.throws(() => parseCef(raw), /unescaped = in the value of reason/, 'control: an unescaped = breaks the record')
  const forged = parse(line.replace(cefValue('x=1 cs1=forged\nCEF:0|evil|'), 'x cs1=forged'))
  t.equal(forged.fields!.cs1, 'forged', 'control: without escaping, nsyslog-parser takes the forged cs1')
  t.equal(parse(line).fields!.cs1, 'p\\\\', 'with escaping it keeps the real one (nsyslog-parser does not unescape)')
})

t.test('property: any valid signal round-trips through CEF (strict parser)', async (t) => {
  fc.assert(fc.property(signalArb, (s) => {
    const line = cef(s, { hostname: 'agg-1' })
    t.notMatch(line, /[\r\n]/)
    t.same(signalOf(parseCef(line)), s)
    t.equal(parse(line).fields!.externalId, s.id, 'nsyslog-parser finds the dedup key')
  }), { numRuns: 300 })
})

t.test('property: nsyslog-parser reads the same values as the strict parser where no escape is involved', async (t) => {
  const words = fc.array(fc.stringMatching(/^[A-Za-z0-9.:_\-éü中]{1,8}$/), { minLength: 1, maxLength: 5 }).map((w) => w.join(' '))
  fc.assert(fc.property(signalArb, words, words, words, (s, provider, reason, tool) => {
    const line = cef({ ...s, provider, reason, tool, details: undefined }, { hostname: 'agg-1' })
    const n = parse(line).fields!
    const strict = parseCef(line).ext
    for (const k of ['cs1', 'reason', 'cs2', 'externalId', 'act', 'cat', 'rt']) t.equal(n[k], strict.get(k), k)
    t.same([n.cs1, n.reason, n.cs2], [provider, reason, tool])
  }), { numRuns: 100 })
})

t.test('a signal with an unreadable time or severity is refused, naming the field', async (t) => {
  const [s] = sampleSignals()
  t.throws(() => cef({ ...s!, time: 'soon' }, SAMPLE_OPTIONS), /^time: expected an RFC 3339 timestamp/)
  t.throws(() => cef({ ...s!, severity: 'urgent' as never }, SAMPLE_OPTIONS), /^severity: expected/)
})
