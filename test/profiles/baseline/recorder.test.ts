/**
 * The baseline recorder and its file (profiles/baseline/): counts, bounds, restore, atomic
 * writes; and the recorder fed by the real decision points — the DNS forwarder (hot path
 * included), the egress connector and CONNECT proxy on loopback sockets, the MCP inspector.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer as createNetServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { silentLogger } from '../../../core/log.js'
import { BaselineRecorder } from '../../../profiles/baseline/recorder.js'
import { BaselineKeeper, baselinePath, loadBaselineFile } from '../../../profiles/baseline/store.js'
import { parseBaseline, type Baseline } from '../../../policy/baseline-schema.js'
import { dnsRig } from '../../helpers/dns-server.js'
import { makeEgressContext } from '../../helpers/egress-context.js'
import { ForwardProxy } from '../../../egress/forward-proxy.js'

const T0 = Date.parse('2026-11-22T10:00:00.000Z')
const DIGEST_A = `sha256:${'a'.repeat(64)}`
const DIGEST_B = `sha256:${'b'.repeat(64)}`

function clocked(start = T0): { now: number; clock: () => number } {
  const c = { now: start, clock: () => c.now }
  return c
}

t.test('egress: one record per (host or IP, port, protocol) with via, actions, content, bytes, addresses', async (t) => {
  const c = clocked()
  const r = new BaselineRecorder({ provider: 'p', mode: 'alert', clock: c.clock })
  r.egress({ host: 'api.example.com', ip: '93.184.216.34', port: 443, protocol: 'tunnel', via: 'connect', action: 'allowed' })
  r.egressContent({ host: 'api.example.com', port: 443, protocol: 'tunnel' }, 'tls')
  c.now += 1000
  r.egress({ host: 'api.example.com', ip: '10.1.2.3', port: 443, protocol: 'tunnel', via: 'connect', action: 'alerted' })
  r.egressBytes({ host: 'api.example.com', port: 443, protocol: 'tunnel' }, 100, 2000)
  r.egress({ host: 'api.example.com', port: 8443, protocol: 'tunnel', via: 'connect', action: 'blocked' })
  r.egress({ ip: '198.51.100.7', port: 5432, protocol: 'tunnel', via: 'connect', action: 'alerted' })
  r.egress({ host: 'down.example.com', port: 80, protocol: 'http', via: 'http_proxy', action: 'allowed', failed: true })
  r.egress({ port: 443, protocol: 'https', via: 'transparent_tls', action: 'blocked' }) // no SNI: nothing to key on
  const b = parseBaseline(r.snapshot())
  t.equal(b.egress.length, 4, 'four destinations (the SNI-less attempt has no key)')
  const api = b.egress.find((e) => e.host === 'api.example.com' && e.port === 443)!
  t.equal(api.count, 2)
  t.same(api.actions, { allowed: 1, alerted: 1 })
  t.same(api.via, { connect: 2 })
  t.same(api.content, { tls: 1 })
  t.same(api.addresses, [{ ip: '93.184.216.34', class: 'global' }, { ip: '10.1.2.3', class: 'private' }], 'dialled addresses with their class')
  t.equal(api.bytes_up, 100)
  t.equal(api.bytes_down, 2000)
  t.equal(api.first_seen, '2026-11-22T10:00:00.000Z')
  t.equal(api.last_seen, '2026-11-22T10:00:01.000Z')
  const other = b.egress.find((e) => e.port === 8443)!
  t.same(other.actions, { blocked: 1 }, 'another port is another destination')
  const ip = b.egress.find((e) => e.ip === '198.51.100.7')!
  t.equal(ip.host, undefined, 'an IP-literal destination has no host')
  t.same(ip.addresses, [{ ip: '198.51.100.7', class: 'documentation' }])
  const down = b.egress.find((e) => e.host === 'down.example.com')!
  t.equal(down.errors, 1, 'a permitted attempt that failed is an error')
  t.same(down.addresses, [])
  t.equal(b.events, 7, 'every call is an event (the SNI-less attempt is not)')
})

t.test('bounds: a full map counts new keys as dropped; learnt keys keep counting', async (t) => {
  const r = new BaselineRecorder({ provider: 'p', mode: 'alert', limits: { max_destinations: 2, max_dns_names: 1, max_tools: 1, rate_minutes: 2 } })
  for (let i = 0; i < 5; i++) r.egress({ host: `h${i}.example.com`, port: 443, protocol: 'https', via: 'transparent_tls', action: 'allowed' })
  r.egress({ host: 'h0.example.com', port: 443, protocol: 'https', via: 'transparent_tls', action: 'allowed' })
  t.equal(r.dnsQuery('a.example.com', 'A', 'allowed')?.name, 'a.example.com')
  t.equal(r.dnsQuery('b.example.com', 'A', 'allowed'), undefined, 'a name that does not fit gets no handle')
  r.toolListed('one', DIGEST_A)
  r.toolListed('two', DIGEST_A)
  r.toolCalled('three', false, {}, (k) => k)
  r.toolRefused('made-up') // refusals never create a tool
  const b = parseBaseline(r.snapshot())
  t.same(b.egress.map((e) => [e.host, e.count]), [['h0.example.com', 2], ['h1.example.com', 1]], 'first seen wins')
  t.same(b.dropped, { destinations: 3, dns_names: 1, tools: 2 })
  t.same(b.tools.map((x) => x.name), ['one'])
  t.equal(b.limits.max_destinations, 2, 'the limits are recorded')
})

t.test('strings are cut to the schema lengths; argument keys are bounded and redacted', async (t) => {
  const r = new BaselineRecorder({ provider: 'p', mode: 'block' })
  const long = `${'x'.repeat(300)}`
  r.toolListed(long, DIGEST_A)
  const args: Record<string, number> = {}
  for (let i = 0; i < 200; i++) args[`k${i}`] = i
  args['AKIAABCDEFGHIJKLMNOP'] = 1
  r.toolCalled(long, false, args, (k) => (k.startsWith('AKIA') ? '[REDACTED]' : k.repeat(3)))
  r.toolCalled(long, false, ['not', 'an', 'object'], (k) => k)
  const b = parseBaseline(r.snapshot())
  t.equal(b.tools[0]!.name.length, 256)
  t.equal(b.tools[0]!.argument_keys.length, 64, 'at most 64 keys per tool')
  t.ok(b.tools[0]!.argument_keys.every((k) => k.length <= 80), 'each key cut to 80 characters')
  t.equal(b.tools[0]!.calls, 2)
})

t.test('DNS: queries by QTYPE and outcome, answer types, cached hits through a handle', async (t) => {
  const c = clocked()
  const r = new BaselineRecorder({ provider: 'p', mode: 'alert', clock: c.clock })
  const h = r.dnsQuery('api.example.com', 'A', 'allowed')!
  r.dnsAnswer('api.example.com', ['A', 'CNAME'])
  r.dnsHit(h, 'A', T0 + 5000)
  r.dnsQuery('api.example.com', 'AAAA', 'allowed')
  r.dnsAnswer('api.example.com', ['NODATA'])
  r.dnsQuery('evil.example.net', 'TXT', 'alerted')
  r.dnsAnswer('never-asked.example', ['A'])
  const b = parseBaseline(r.snapshot())
  const api = b.dns.find((d) => d.name === 'api.example.com')!
  t.equal(api.count, 3)
  t.same(api.qtypes, { A: 2, AAAA: 1 })
  t.same(api.actions, { allowed: 3 })
  t.same(api.answers, { A: 1, CNAME: 1, NODATA: 1 })
  t.equal(api.last_seen, '2026-11-22T10:00:05.000Z', 'the hit carries its own time')
  t.same(b.dns.find((d) => d.name === 'evil.example.net')!.actions, { alerted: 1 })
  t.notOk(b.dns.some((d) => d.name === 'never-asked.example'), 'an answer for a name never queried is ignored')
})

t.test('tools: listings with digests (drift kept in order), calls, errors, refusals, call rate per minute', async (t) => {
  const c = clocked()
  const r = new BaselineRecorder({ provider: 'p', mode: 'alert', clock: c.clock })
  r.toolListed('fetch', DIGEST_A)
  r.toolListed('fetch', DIGEST_A)
  r.toolListed('fetch', DIGEST_B)
  r.toolListed('fetch', 'not-a-digest')
  r.toolListed('other', DIGEST_A)
  // minute 0: 3 calls; minute 1: 1; minute 5: 10
  for (let i = 0; i < 3; i++) r.toolCalled('fetch', i === 2, { url: 'x', max_length: 1 }, (k) => k)
  c.now += 60_000
  r.toolCalled('fetch', false, { url: 'y', start_index: 0 }, (k) => k)
  c.now += 4 * 60_000
  for (let i = 0; i < 10; i++) r.toolCalled('fetch', false, {}, (k) => k)
  r.toolRefused('fetch')
  const b = parseBaseline(r.snapshot())
  const f = b.tools.find((x) => x.name === 'fetch')!
  t.equal(f.listed, 4)
  t.same(f.digests, [DIGEST_A, DIGEST_B], 'digests in order of appearance; a malformed one is not kept')
  t.equal(f.calls, 14)
  t.equal(f.errors, 1)
  t.equal(f.refused, 1)
  t.same(f.argument_keys, ['max_length', 'start_index', 'url'], 'keys sorted, never values')
  t.same(b.call_rate, { active_minutes: 3, min: 1, median: 3, p95: 10, max: 10 })
  t.equal(b.call_minutes.length, 3)
  t.equal(b.tools.find((x) => x.name === 'other')!.calls, 0)
})

t.test('call rate keeps only the last rate_minutes minutes', async (t) => {
  const c = clocked()
  const r = new BaselineRecorder({ provider: 'p', mode: 'alert', clock: c.clock, limits: { rate_minutes: 3 } })
  for (let m = 0; m < 10; m++) {
    for (let i = 0; i <= m; i++) r.toolCalled('t', false, {}, (k) => k)
    c.now += 60_000
  }
  const b = parseBaseline(r.snapshot())
  t.same(b.call_minutes.map((m) => m[1]), [8, 9, 10])
  t.same(b.call_rate, { active_minutes: 3, min: 8, median: 9, p95: 10, max: 10 })
})

t.test('byte rate: egress bytes per minute of close (the last rate_minutes minutes), restored; a baseline without it still parses', async (t) => {
  const c = clocked()
  const r = new BaselineRecorder({ provider: 'p', mode: 'alert', clock: c.clock, limits: { rate_minutes: 3 } })
  const k = { host: 'api.example.com', port: 443, protocol: 'tunnel' as const }
  r.egress({ ...k, via: 'connect', action: 'allowed' })
  for (let m = 0; m < 5; m++) {
    r.egressBytes(k, 100 * (m + 1), 1000 * (m + 1))
    r.egressBytes(k, 0, 0) // nothing moved: no minute of its own
    c.now += 60_000
  }
  r.egressBytes({ host: 'unknown.example.com', port: 443, protocol: 'tunnel' }, 5, 5)
  const b = parseBaseline(r.snapshot())
  t.same(b.byte_minutes!.map((m) => m[1]), [3300, 4400, 5500], 'bytes up + down, the last 3 minutes')
  t.same(b.byte_rate, { active_minutes: 3, min: 3300, median: 4400, p95: 5500, max: 5500 })
  const again = new BaselineRecorder({ provider: 'p', mode: 'alert', clock: c.clock, limits: { rate_minutes: 3 }, restore: b })
  t.same(again.snapshot().byte_minutes, b.byte_minutes, 'restored')
  const older: Record<string, unknown> = { ...b }
  delete older.byte_rate
  delete older.byte_minutes
  const parsed = parseBaseline(older)
  t.equal(parsed.byte_rate, undefined, 'a baseline from before byte rates parses')
  t.same(new BaselineRecorder({ provider: 'p', mode: 'alert', restore: parsed }).snapshot().byte_minutes, [], 'and restores with none')
  t.throws(() => parseBaseline({ ...b, byte_minutes: [[1, 1], [2, 1], [3, 1], [4, 1]] }), /byte_minutes: more minutes than limits.rate_minutes/)
})

t.test('restore continues the counts and revision; smaller limits truncate into dropped', async (t) => {
  const c = clocked()
  const a = new BaselineRecorder({ provider: 'p', mode: 'alert', clock: c.clock })
  for (let i = 0; i < 5; i++) a.egress({ host: `h${i}.example.com`, port: 443, protocol: 'https', via: 'transparent_tls', action: 'allowed' })
  a.toolListed('x', DIGEST_A)
  a.toolCalled('x', false, { q: 1 }, (k) => k)
  const first = a.snapshot()
  c.now += 3_600_000
  const b = new BaselineRecorder({ provider: 'p', mode: 'block', clock: c.clock, restore: first })
  b.egress({ host: 'h0.example.com', port: 443, protocol: 'https', via: 'transparent_tls', action: 'allowed' })
  b.toolCalled('x', false, { q: 1, r: 2 }, (k) => k)
  const s = parseBaseline(b.snapshot())
  t.equal(s.started, first.started, 'the baseline keeps its start')
  t.equal(s.revision, first.revision + 2)
  t.equal(s.events, first.events + 2)
  t.equal(s.egress.find((e) => e.host === 'h0.example.com')!.count, 2)
  t.same(s.tools[0]!.argument_keys, ['q', 'r'], 'keys merged without duplicates')
  t.equal(s.enforcement_mode, 'block', 'the current mode is written')
  const small = new BaselineRecorder({ provider: 'p', mode: 'alert', restore: first, limits: { max_destinations: 2 } })
  const ss = parseBaseline(small.snapshot())
  t.equal(ss.egress.length, 2)
  t.equal(ss.dropped.destinations, 3, 'the records that no longer fit are counted')
  const other = new BaselineRecorder({ provider: 'q', mode: 'alert', restore: first })
  t.equal(other.snapshot().egress.length, 0, "another provider's baseline is not restored")
})

t.test('file: written atomically when changed, read back, invalid files moved aside', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-baseline-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const log = silentLogger()
  t.equal(loadBaselineFile(dir, 'p', log), undefined, 'no file: nothing to restore')
  const r = new BaselineRecorder({ provider: 'p', mode: 'alert' })
  const keeper = new BaselineKeeper({ recorder: r, dataDir: join(dir, 'data'), log, flushIntervalMs: 50 })
  keeper.start()
  r.egress({ host: 'a.example.com', port: 443, protocol: 'https', via: 'transparent_tls', action: 'allowed' })
  await keeper.flush()
  const path = baselinePath(join(dir, 'data'))
  const written = JSON.parse(readFileSync(path, 'utf8')) as Baseline
  t.equal(written.egress[0]!.host, 'a.example.com')
  t.equal(written.revision, r.revision)
  t.same(readdirSync(join(dir, 'data')), ['baseline.json'], 'no temporary file left')
  // Unchanged revision: no rewrite (mtime-independent check: the file is replaced by a marker and stays so).
  writeFileSync(path, JSON.stringify({ ...written, provider: 'p' }))
  const before = readFileSync(path, 'utf8')
  await keeper.flush()
  t.equal(readFileSync(path, 'utf8'), before, 'an unchanged baseline is not written again')
  r.toolListed('t', DIGEST_A)
  await keeper.close()
  const back = loadBaselineFile(join(dir, 'data'), 'p', log)!
  t.equal(back.tools[0]!.name, 't', 'close() writes the last events')
  t.equal(loadBaselineFile(join(dir, 'data'), 'other', log), undefined, "another provider's file is not used")
  writeFileSync(path, '{"schema":"hangar.baseline/v1","provider":')
  t.equal(loadBaselineFile(join(dir, 'data'), 'p', log), undefined, 'a corrupt file is not used')
  t.notOk(existsSync(path), 'it was moved aside')
  t.ok(readdirSync(join(dir, 'data')).some((f) => f.startsWith('baseline.json.invalid-')), 'kept as baseline.json.invalid-<ms>')
})

t.test('the DNS forwarder feeds the baseline: denied, allowed, upstream answers and cached hits (hot path)', async (t) => {
  const r = new BaselineRecorder({ provider: 'test', mode: 'alert' })
  const rig = await dnsRig({
    capabilities: { enforcement_mode: 'alert', network: { egress: [{ host: 'api.example.com' }] } },
    sidecar: { dns_mode: 'passthrough' },
    records: { 'api.example.com': [{ type: 'A', data: '93.184.216.34' }], 'other.example.net': [{ type: 'A', data: '93.184.216.35' }] },
    realClock: true,
    baseline: r,
  })
  t.teardown(() => rig.close())
  await rig.ask('api.example.com', 'A')
  for (let i = 0; i < 20; i++) await rig.ask('api.example.com', 'A') // cached: hot path after the first repeat
  await rig.ask('api.example.com', 'AAAA')
  await rig.ask('other.example.net', 'A') // alerted: forwarded in alert mode
  rig.forwarder.flushMetrics() // cached answers reach the baseline once per event-loop turn
  const b = parseBaseline(r.snapshot())
  const api = b.dns.find((d) => d.name === 'api.example.com')!
  t.equal(api.count, 22, 'every query is counted, cached ones included')
  t.same(api.qtypes, { A: 21, AAAA: 1 })
  t.same(api.actions, { allowed: 22 })
  t.equal(api.answers.A, 1, 'one upstream reply with an A record (cache hits are not answers again)')
  t.equal(api.answers.NODATA, 1)
  const other = b.dns.find((d) => d.name === 'other.example.net')!
  t.same(other.actions, { alerted: 1 })
})

t.test('steering mode: alert mode steers the names it lets through; denied names are NXDOMAIN in the baseline', async (t) => {
  const r = new BaselineRecorder({ provider: 'test', mode: 'alert' })
  const rig = await dnsRig({
    capabilities: { enforcement_mode: 'alert', network: { egress: [{ host: 'api.example.com' }] } },
    sidecar: { dns_mode: 'steering', address: '10.254.9.1' },
    records: { 'other.example.net': [{ type: 'A', data: '93.184.216.35' }] },
    baseline: r,
  })
  t.teardown(() => rig.close())
  const alerted = await rig.ask('other.example.net', 'A')
  t.same(alerted.answers?.map((a) => (a as { data?: unknown }).data), ['10.254.9.1'], 'an alerted name is steered to the sidecar (its traffic is seen there)')
  t.equal(rig.upstream.queries.length, 0, 'the upstream was not asked')
  const b = parseBaseline(r.snapshot())
  t.same(b.dns.find((d) => d.name === 'other.example.net')!.answers, { steered: 1 })

  const rb = new BaselineRecorder({ provider: 'test', mode: 'block' })
  const block = await dnsRig({
    capabilities: { enforcement_mode: 'block', network: { egress: [{ host: 'api.example.com' }] } },
    sidecar: { dns_mode: 'steering', address: '10.254.9.1' },
    baseline: rb,
  })
  t.teardown(() => block.close())
  const denied = await block.ask('other.example.net', 'A')
  t.equal((denied as unknown as { rcode: string }).rcode, 'NXDOMAIN')
  t.same(parseBaseline(rb.snapshot()).dns[0]!.answers, { NXDOMAIN: 1 })
})

t.test('the CONNECT proxy feeds the baseline: allowed and alerted tunnels, their content and bytes', async (t) => {
  const upstream = createNetServer((s) => s.on('data', (d) => s.write(d)))
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => upstream.close(() => r())))
  const port = (upstream.address() as { port: number }).port
  const r = new BaselineRecorder({ provider: 'test', mode: 'alert' })
  const eg = makeEgressContext({
    capabilities: { enforcement_mode: 'alert', network: { loopback_allowed: true, egress: [{ host: 'known.test', port, protocol: 'tcp' }] } },
    dns: { 'known.test': ['127.0.0.1'], 'unknown.test': ['127.0.0.1'], 'meta.test': ['169.254.169.254'] },
    baseline: r,
  })
  const proxy = new ForwardProxy(eg.connector)
  const proxyPort = await proxy.listen('127.0.0.1', 0)
  t.teardown(() => proxy.close())
  const tunnel = (host: string, payload: string) => new Promise<string>((resolve) => {
    const s = connect(proxyPort, '127.0.0.1', () => s.write(`CONNECT ${host}:${port} HTTP/1.1\r\nHost: ${host}:${port}\r\n\r\n`))
    let buf = ''
    let sent = false
    s.on('data', (d) => {
      buf += d.toString('latin1')
      if (!sent && buf.includes('\r\n\r\n')) {
        sent = true
        if (!buf.startsWith('HTTP/1.1 200')) return s.end()
        s.write(payload)
      } else if (sent && buf.endsWith(payload)) s.end()
    })
    s.on('close', () => resolve(buf))
    s.on('error', () => resolve(buf))
  })
  t.match(await tunnel('known.test', 'PING-1234\r\n'), /^HTTP\/1\.1 200/)
  t.match(await tunnel('unknown.test', 'GET / HTTP/1.1\r\nHost: unknown.test\r\n\r\n'), /^HTTP\/1\.1 200/, 'alert mode lets the unknown name through')
  t.match(await tunnel('meta.test', 'x'), /^HTTP\/1\.1 403/, 'an alerted name that resolves to the metadata address is still refused')
  await new Promise((res) => setTimeout(res, 100))
  const b = parseBaseline(r.snapshot())
  const known = b.egress.find((e) => e.host === 'known.test')!
  t.same(known.actions, { allowed: 1 })
  t.same(known.content, { other: 1 }, 'opaque bytes: other')
  t.ok(known.bytes_up >= 11 && known.bytes_down >= 11, `bytes counted (${known.bytes_up}/${known.bytes_down})`)
  t.same(known.addresses, [{ ip: '127.0.0.1', class: 'loopback' }])
  const unknown = b.egress.find((e) => e.host === 'unknown.test')!
  t.same(unknown.actions, { alerted: 1 })
  t.same(unknown.content, { http: 1 }, 'an alerted tunnel is sniffed for the baseline too')
  const meta = b.egress.find((e) => e.host === 'meta.test')!
  t.same(meta.actions, { blocked: 1 }, 'the metadata answer is a hard denial in alert mode')
  t.equal(eg.of('egress_denied').find((s) => s.destination?.host === 'meta.test')?.rule, 'always-denied:metadata')
})

t.test('a tool name longer than 256 characters is one record before and after a restore', async (t) => {
  const long = 'n'.repeat(300)
  const a = new BaselineRecorder({ provider: 'p', mode: 'alert' })
  a.toolCalled(long, false, {}, (k) => k)
  const b = new BaselineRecorder({ provider: 'p', mode: 'alert', restore: a.snapshot() })
  b.toolCalled(long, false, {}, (k) => k)
  b.toolRefused(long)
  const s = parseBaseline(b.snapshot())
  t.equal(s.tools.length, 1)
  t.match(s.tools[0], { calls: 2, refused: 1 })
})

t.test('long argument keys are remembered by head and length: two keys that differ after 80 characters are both seen', async (t) => {
  const r = new BaselineRecorder({ provider: 'p', mode: 'alert' })
  const head = 'k'.repeat(100)
  r.toolCalled('t', false, { [`${head}a`]: 1, [`${head}bb`]: 2 }, (k) => k)
  r.toolCalled('t', false, { [`${head}a`]: 1 }, (k) => k)
  const s = parseBaseline(r.snapshot())
  t.same(s.tools[0]!.argument_keys, ['k'.repeat(80)], 'kept keys are cut to 80 characters and not repeated')
})

t.test('cached DNS answers carry wall-clock times (the cache clock is process-relative)', async (t) => {
  const r = new BaselineRecorder({ provider: 'test', mode: 'block' })
  const rig = await dnsRig({
    capabilities: { network: { egress: [{ host: 'api.example.com' }] } },
    sidecar: { dns_mode: 'passthrough' },
    records: { 'api.example.com': [{ type: 'A', data: '93.184.216.34' }] },
    realClock: true,
    baseline: r,
  })
  t.teardown(() => rig.close())
  const before = Date.now()
  for (let i = 0; i < 5; i++) await rig.ask('api.example.com', 'A')
  rig.forwarder.flushMetrics()
  const s = parseBaseline(r.snapshot())
  t.equal(s.dns[0]!.count, 5)
  const last = Date.parse(s.dns[0]!.last_seen)
  t.ok(last >= before - 50 && last <= Date.now() + 50, `last_seen is now (${s.dns[0]!.last_seen})`)
  t.ok(Date.parse(s.updated) >= Date.parse(s.started), 'updated is not before started')
})
