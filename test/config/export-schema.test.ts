/**
 * config/export-schema.ts: `aggregator.export.sinks.<name>` exactly as documented — the issue's
 * example parses with its defaults; every transport's keys; strictness (an unknown key anywhere,
 * including inside a transport, is an error naming its path, through the YAML loader too); the
 * cross-field rules (TLS-only keys, RFC 5425 framing, mTLS pairs, https webhooks). Each refusal
 * has a control that passes.
 */
import t from 'tap'
import type { ZodError, ZodTypeAny } from 'zod'
import { exportConfigSchema, exportSinkSchema } from '../../config/export-schema.js'
import { parseConfig } from '../../config/load.js'

function issues(schema: ZodTypeAny, value: unknown): string[] {
  const r = schema.safeParse(value)
  if (r.success) return []
  return (r.error as ZodError).issues.map((i) => `${i.path.join('.')}: ${i.message}`)
}

const SYSLOG = { type: 'syslog', protocol: 'tls', address: '127.0.0.1:6514', ca_file: 'ca.pem' }

t.test('the documented example parses, with its defaults', async (t) => {
  const yaml = `
aggregator:
  export:
    sinks:
      soc:
        format: cef
        transport:
          type: syslog
          protocol: tls
          address: 127.0.0.1:6514
          framing: octet-counting
          ca_file: ca.pem
        filter: { kinds: [violation, enforcement], min_severity: medium }
        batch_max: 500
`
  const c = parseConfig(yaml).config
  t.same(c.aggregator!.export!.sinks.soc, {
    format: 'cef', transport: { type: 'syslog', protocol: 'tls', address: '127.0.0.1:6514', framing: 'octet-counting', ca_file: 'ca.pem' },
    filter: { kinds: ['violation', 'enforcement'], min_severity: 'medium' }, batch_max: 500, retry: { initial_ms: 500, max_ms: 60_000, timeout_ms: 10_000 },
  })
})

t.test('every transport with its keys', async (t) => {
  const ok = [
    { type: 'file', path: '/var/log/hangar/export.jsonl', rotate_bytes: 4096, keep_files: 3 },
    { type: 'syslog', protocol: 'udp', address: '[::1]:514' },
    { type: 'syslog', protocol: 'tcp', address: 'siem.internal:601', framing: 'non-transparent' },
    { ...SYSLOG, cert_file: 'c.pem', key_file: 'k.pem', server_name: 'siem.internal' },
    { type: 'splunk_hec', url: 'https://splunk:8088', token: 't', ack: true, channel: '11111111-2222-3333-4444-555555555555', index: 'main', sourcetype: 's' },
    { type: 'elasticsearch', url: 'https://es:9200', index: 'hangar-signals', auth: { username: 'u', password: 'p' } },
    { type: 'elasticsearch', url: 'https://es:9200', index: 'hangar', auth: { api_key: 'k' } },
    { type: 'webhook', url: 'https://soar.example/hook', secret: '0123456789abcdef' },
    { type: 'webhook', url: 'http://127.0.0.1:9000/hook', secret: '0123456789abcdef' },
  ]
  for (const tr of ok) t.same(issues(exportSinkSchema, { format: 'jsonl', transport: tr }), [], `${tr.type} ${JSON.stringify(tr)}`)
  t.same(issues(exportSinkSchema, { format: 'jsonl', transport: { type: 'splunk_hec', url: 'https://s:8088', token: 't', ack: 'true' } }), [], 'booleans as strings (env substitution)')
})

t.test('unknown keys are errors naming their path, anywhere', async (t) => {
  t.match(issues(exportConfigSchema, { sinks: { soc: { format: 'jsonl', transport: { ...SYSLOG, cafile: 'x' } } } }), [/^sinks\.soc\.transport: Unrecognized key\(s\) in object: 'cafile'/])
  t.match(issues(exportConfigSchema, { sinks: { soc: { format: 'jsonl', transport: SYSLOG, filter: { kind: ['violation'] } } } }), [/^sinks\.soc\.filter: Unrecognized key/])
  t.match(issues(exportConfigSchema, { sinks: { soc: { format: 'jsonl', transport: SYSLOG, batchmax: 5 } } }), [/^sinks\.soc: Unrecognized key/])
  t.match(issues(exportConfigSchema, { sinks: {}, sink: {} }), [/Unrecognized key/])
  t.match(issues(exportConfigSchema, { sinks: { soc: { format: 'jsonl', transport: { type: 'elasticsearch', url: 'https://es:9200', index: 'i', auth: { username: 'u', password: 'p', token: 'x' } } } } }), [/^sinks\.soc\.transport\.auth/])
  t.throws(() => parseConfig('aggregator:\n  export:\n    sinks:\n      soc:\n        format: jsonl\n        transport: { type: file, path: x, rotate: 1 }\n'), /aggregator\.export\.sinks\.soc\.transport/)
})

t.test('bad values are refused with the rule', async (t) => {
  const sink = (over: Record<string, unknown>) => ({ format: 'jsonl', transport: SYSLOG, ...over })
  t.match(issues(exportSinkSchema, sink({ format: 'xml' })), [/^format: /])
  t.match(issues(exportSinkSchema, sink({ transport: { type: 'kafka' } })), [/^transport\.type: /])
  t.match(issues(exportSinkSchema, sink({ transport: { ...SYSLOG, protocol: 'sctp' } })), [/^transport\.protocol/])
  t.match(issues(exportSinkSchema, sink({ transport: { ...SYSLOG, address: '127.0.0.1:0' } })), [/^transport\.address: expected "host:port" with a port 1–65535/])
  t.match(issues(exportSinkSchema, sink({ transport: { ...SYSLOG, framing: 'non-transparent' } })), [/^transport\.framing: RFC 5425/])
  t.match(issues(exportSinkSchema, sink({ transport: { type: 'syslog', protocol: 'tcp', address: 'a:1', ca_file: 'x' } })), [/^transport\.ca_file: only for protocol "tls"/])
  t.match(issues(exportSinkSchema, sink({ transport: { type: 'syslog', protocol: 'udp', address: 'a:1', framing: 'non-transparent' } })), [/^transport\.framing: framing is for stream transports/])
  t.match(issues(exportSinkSchema, sink({ transport: { ...SYSLOG, cert_file: 'c.pem' } })), [/^transport\.key_file: mutual TLS needs both/])
  t.match(issues(exportSinkSchema, sink({ transport: { type: 'webhook', url: 'http://soar.example/hook', secret: '0123456789abcdef' } })), [/^transport\.url: a webhook carries the audit trail: https:\/\/ is required/])
  t.match(issues(exportSinkSchema, sink({ transport: { type: 'webhook', url: 'https://soar.example/hook', secret: 'short' } })), [/^transport\.secret: use a secret of at least 16/])
  t.match(issues(exportSinkSchema, sink({ transport: { type: 'splunk_hec', url: 'ftp://x', token: 't' } })), [/^transport\.url: expected an http/])
  t.match(issues(exportSinkSchema, sink({ transport: { type: 'elasticsearch', url: 'https://es', index: 'Upper Case' } })), [/^transport\.index: expected an Elasticsearch index name/])
  t.match(issues(exportSinkSchema, sink({ batch_max: 0 })), [/^batch_max/])
  t.match(issues(exportSinkSchema, sink({ retry: { initial_ms: 1000, max_ms: 10 } })), [/^retry\.max_ms: max_ms must be at least initial_ms/])
  t.match(issues(exportSinkSchema, sink({ filter: { kinds: ['violations'] } })), [/^filter\.kinds\.0/])
  t.match(issues(exportSinkSchema, sink({ filter: { min_severity: 'severe' } })), [/^filter\.min_severity/])
  t.match(issues(exportSinkSchema, sink({ filter: { types: ['Egress Denied'] } })), [/^filter\.types\.0: expected a signal type/])
  t.match(issues(exportConfigSchema, { sinks: { 'bad/name': { format: 'jsonl', transport: SYSLOG } } }), [/sink names are letters, digits/])
  t.same(issues(exportSinkSchema, sink({})), [], 'control: the same sink without the fault passes')
})
