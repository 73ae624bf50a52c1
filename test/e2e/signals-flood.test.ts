// The audit trail cannot be flushed away, end to end: a provider floods a real sidecar DNS
// listener on loopback with 50,000 denied queries; the sidecar's signal output (sidecar/control-plane.ts
// openSignalOutput: rate limit → spool → shipper) ships to a real aggregator over HTTP with small
// audit limits. The first violation stays queryable, the roll-ups account for every folded
// signal, the flood costs a bounded number of audit records, the aggregator answers throughout,
// and the same holds over several sidecar restarts on one spool.
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import t from 'tap'
import { request } from 'undici'
import { Aggregator } from '../../aggregator/aggregator.js'
import { openSignalOutput } from '../../sidecar/control-plane.js'
import { hangarConfigSchema, type HangarConfig } from '../../config/schema.js'
import { silentLogger } from '../../core/log.js'
import { createMetrics } from '../../core/metrics.js'
import { DnsCache } from '../../egress/dns/cache.js'
import { DnsForwarder } from '../../egress/dns/forwarder.js'
import { DnsServer } from '../../egress/dns/server.js'
import { QuarantineSwitch } from '../../policy/quarantine.js'
import { compilePolicy } from '../../policy/egress-policy.js'
import { EgressSignals } from '../../egress/signals.js'
import type { SuppressedDetails } from '../../signals/suppressed.js'
import type { Signal } from '../../signals/types.js'
import { makeQuery, rcodeOf, tcpExchange, TestDnsServer } from '../helpers/dns-server.js'
import * as dnsPacket from 'dns-packet'
import { tempDir } from '../signals/helpers.js'

const SIGNAL = 'sig-flood-token'
const ADMIN = 'adm-flood-token'
const CAPS = { enforcement_mode: 'block', network: { egress: [{ host: 'api.example.com' }] } }

async function startAggregator(t: { teardown(fn: () => unknown): void }, dir: string): Promise<{ base: string; stop(): Promise<void> }> {
  const config = hangarConfigSchema.parse({
    aggregator: {
      listen: '127.0.0.1:0', data_dir: dir, signal_tokens: [SIGNAL], admin_tokens: [ADMIN],
      audit_max_bytes: 64 * 1024, audit_keep_files: 1, audit_max_total_bytes: 4 * 1024 * 1024,
    },
    providers: { fetch: { mode: 'remote', endpoint: 'http://127.0.0.1:9/mcp' } },
  })
  const agg = new Aggregator({ config, log: silentLogger() })
  const port = await agg.start()
  let stopped: Promise<void> | undefined
  const stop = (): Promise<void> => (stopped ??= agg.stop())
  t.teardown(stop)
  return { base: `http://127.0.0.1:${port}`, stop }
}

interface Sidecar {
  port: number
  metrics: ReturnType<typeof createMetrics>
  close(): Promise<void>
}

/** The sidecar's DNS path for provider `fetch`: policy, forwarder, UDP/TCP listener, and its real signal output. */
async function startSidecar(aggUrl: string, dataDir: string, upstream: string, limits: Record<string, number> = { rate_per_s: 50, burst: 200, per_destination: 5, rollup_interval_ms: 500, rollup_max_entries: 50 }): Promise<Sidecar> {
  const config: HangarConfig = hangarConfigSchema.parse({
    aggregator: { url: aggUrl, signal_tokens: [SIGNAL], admin_tokens: [ADMIN] },
    providers: {
      fetch: {
        mode: 'remote', endpoint: 'http://127.0.0.1:9/mcp', capabilities: CAPS,
        sidecar: { data_dir: dataDir, upstream_dns: [upstream], dns_mode: 'passthrough', signal_limits: limits },
      },
    },
  })
  const provider = config.providers.fetch!
  const metrics = createMetrics({ defaultMetrics: false })
  const log = silentLogger()
  const out = openSignalOutput({ config, providerName: 'fetch', provider, sidecarId: 'fetch-flood', signalLog: undefined, metrics, log })
  const policy = compilePolicy('fetch', provider.capabilities)
  const enforcement = new QuarantineSwitch()
  const signals = new EgressSignals({ provider: 'fetch', sidecar_id: 'fetch-flood' }, policy, out.sink, metrics, enforcement, log, provider.sidecar.observation_window_ms)
  const cache = new DnsCache({ maxEntries: provider.sidecar.limits.dns_cache_entries, maxTtlS: provider.sidecar.limits.dns_cache_max_ttl_s })
  const forwarder = new DnsForwarder({ ctx: { policy, enforcement, signals, metrics, log }, sidecar: provider.sidecar, cache })
  const server = new DnsServer(forwarder, { log })
  const port = await server.listen('127.0.0.1', 0)
  return {
    port, metrics,
    async close() {
      await server.close()
      forwarder.close()
      await out.sink.close()
    },
  }
}

/** Sends `names` as A queries over pipelined TCP, 1000 per connection, 4 connections at a time; returns the rcodes seen. */
async function flood(port: number, names: (i: number) => string, n: number): Promise<Map<string, number>> {
  const rcodes = new Map<string, number>()
  const chunks: number[] = []
  for (let i = 0; i < n; i += 1000) chunks.push(i)
  for (let c = 0; c < chunks.length; c += 4) {
    await Promise.all(chunks.slice(c, c + 4).map(async (from) => {
      const qs = Array.from({ length: Math.min(1000, n - from) }, (_, k) => makeQuery(names(from + k), 'A', { id: k }))
      for (const r of await tcpExchange(port, qs, { timeoutMs: 30_000 })) {
        const code = rcodeOf(dnsPacket.decode(r))
        rcodes.set(code, (rcodes.get(code) ?? 0) + 1)
      }
    }))
  }
  return rcodes
}

async function api(base: string, path: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await request(base + path, { headers: { authorization: `Bearer ${ADMIN}` } })
  return { status: res.statusCode, json: (await res.body.json()) as Record<string, unknown> }
}

/** Every stored signal matching `query`, oldest first, paged through the API. */
async function all(base: string, query: string): Promise<Signal[]> {
  const out: Signal[] = []
  let cursor: string | undefined
  for (;;) {
    const r = await api(base, `/v1/signals?${query}&limit=1000${cursor ? `&cursor=${cursor}` : ''}`)
    out.push(...(r.json.signals as Signal[]))
    cursor = r.json.next_cursor as string | undefined
    if (!cursor) return out.reverse()
  }
}

t.test('50,000 denied DNS queries through a real sidecar listener: bounded records, complete roll-ups, first violation kept', async (t) => {
  const upstream = new TestDnsServer({ records: { 'api.example.com': [{ type: 'A', data: '93.184.216.34' }] } })
  await upstream.listen()
  t.teardown(() => upstream.close())
  const { base } = await startAggregator(t, tempDir(t, 'hangar-flood-agg-'))
  const sc = await startSidecar(base, tempDir(t, 'hangar-flood-sc-'), upstream.address)
  let closed = false
  t.teardown(async () => {
    if (!closed) await sc.close()
  })

  // The first violation, then an allowed query (control: the listener answers allowed names).
  t.equal(rcodeOf(dnsPacket.decode((await tcpExchange(sc.port, [makeQuery('first.evil.example', 'A', { id: 1 })]))[0]!)), 'NXDOMAIN')
  t.equal(rcodeOf(dnsPacket.decode((await tcpExchange(sc.port, [makeQuery('api.example.com', 'A', { id: 2 })]))[0]!)), 'NOERROR')

  // The aggregator must keep answering while the flood is shipped: probe it all along.
  const latencies: number[] = []
  let probing = true
  const probe = (async () => {
    while (probing) {
      const t0 = performance.now()
      const r = await api(base, '/v1/providers/fetch')
      if (r.status === 200) latencies.push(performance.now() - t0)
      await new Promise((r) => setTimeout(r, 50))
    }
  })()
  const N = 50_000
  // Half to one name (a single hot key), half to distinct names (the long tail of an exfiltration).
  const started = performance.now()
  const rcodes = await flood(sc.port, (i) => (i % 2 ? 'evil.example' : `x${i}.exfil.example`), N)
  const floodMs = performance.now() - started
  t.same([...rcodes], [['NXDOMAIN', N]], 'every query was decided and answered: decisions are never skipped')
  const denied = await sc.metrics.egress.dnsQueries.get()
  t.equal(denied.values.find((v) => v.labels.decision === 'blocked')?.value, N + 1, 'every decision counted')

  closed = true
  await sc.close() // emits the last roll-up and ships everything
  probing = false
  await probe
  t.ok(latencies.length >= 3, `${latencies.length} probes answered during the flood (${Math.round(floodMs)} ms)`)
  const worst = Math.max(...latencies)
  t.ok(worst < 2000, `aggregator stayed responsive: worst GET ${Math.round(worst)} ms`)

  const dnsDenied = await all(base, 'provider=fetch&type=dns_denied')
  t.equal(dnsDenied[0]?.destination?.host, 'first.evil.example', 'the first violation is still queryable')
  const rollups = (await all(base, 'provider=fetch&type=signals_suppressed')) as Array<Signal & { details: SuppressedDetails }>
  const folded = rollups.reduce((n, s) => n + s.details.total, 0)
  t.ok(rollups.length >= 1)
  t.equal(dnsDenied.length + folded, N + 1, `stored ${dnsDenied.length} + folded ${folded} = every denied query`)
  const metric = await sc.metrics.shipper.signalsSuppressed.get()
  t.equal(metric.values.reduce((n, v) => n + v.value, 0), folded, 'signals_suppressed_total = the roll-ups\' totals')
  t.ok(dnsDenied.length <= 200 + 50 * (floodMs / 1000 + 2), `${dnsDenied.length} records for ${N} queries: bucket-bounded`)
  t.ok(rollups.every((s) => s.details.entries.length <= 50), 'roll-up entries capped')
  t.ok(rollups.some((s) => s.details.other.count > 0), 'the long tail of distinct names counted in other')
  t.same([...new Set(rollups.map((s) => s.details.rollup_seq))].sort((a, b) => a - b), rollups.map((_, i) => i), 'no roll-up lost (seq without gaps)')
  const hot = rollups.flatMap((s) => s.details.entries).filter((e) => e.destination?.host === 'evil.example').reduce((n, e) => n + e.count, 0)
  t.ok(hot >= N / 2 - 5 * rollups.length - 200, `the hot name is accounted for in entries (${hot})`)
})

t.test('floods over several sidecar restarts on one spool: each run bounded, every folded signal accounted for', async (t) => {
  const upstream = new TestDnsServer({ records: {} })
  await upstream.listen()
  t.teardown(() => upstream.close())
  const { base } = await startAggregator(t, tempDir(t, 'hangar-flood-agg-'))
  const dataDir = tempDir(t, 'hangar-flood-sc-')
  const RUNS = 3
  const N = 5000
  for (let run = 0; run < RUNS; run++) {
    const sc = await startSidecar(base, dataDir, upstream.address)
    await flood(sc.port, (i) => `r${run}-${i % 7}.evil.example`, N)
    await sc.close()
  }
  const dnsDenied = await all(base, 'provider=fetch&type=dns_denied')
  const rollups = (await all(base, 'provider=fetch&type=signals_suppressed')) as Array<Signal & { details: SuppressedDetails }>
  t.equal(dnsDenied.length + rollups.reduce((n, s) => n + s.details.total, 0), RUNS * N, 'stored + folded = every query of every run')
  t.ok(dnsDenied.length <= RUNS * (200 + 50 * 10), `${dnsDenied.length} records for ${RUNS * N} queries`)
  t.equal(rollups.filter((s) => s.details.cause === 'close').length, RUNS, 'each stop emitted its last roll-up')
  for (let run = 0; run < RUNS; run++) t.ok(dnsDenied.some((s) => s.destination?.host?.startsWith(`r${run}-`)), `run ${run}: first violations stored`)
})

t.test('control: with limits that never bite, a flood is one record per query, and retention still keeps the first violation past audit_keep_files', async (t) => {
  const upstream = new TestDnsServer({ records: {} })
  await upstream.listen()
  t.teardown(() => upstream.close())
  const aggDir = tempDir(t, 'hangar-flood-agg-')
  const { base, stop } = await startAggregator(t, aggDir)
  const sc = await startSidecar(base, tempDir(t, 'hangar-flood-sc-'), upstream.address, { rate_per_s: 1_000_000, burst: 1_000_000, per_destination: 1_000_000 })
  const N = 5000
  await tcpExchange(sc.port, [makeQuery('first.evil.example', 'A', { id: 1 })])
  await flood(sc.port, (i) => `n${i}.evil.example`, N)
  await sc.close()
  const dnsDenied = await all(base, 'provider=fetch&type=dns_denied')
  t.equal(dnsDenied.length, N + 1, 'nothing folded: the limiter is what bounds the flood')
  t.equal((await all(base, 'provider=fetch&type=signals_suppressed')).length, 0)
  await stop()
  const audit = readdirSync(join(aggDir, 'audit'))
  t.ok(audit.filter((f) => f.startsWith('kept-')).length >= 3, `the audit log rotated past audit_keep_files: ${audit.join(' ')}`)
  // After a restart the store is rebuilt from disk: the audit files rotated well past keep_files 1.
  const again = await startAggregator(t, aggDir)
  const rebuilt = await all(again.base, 'provider=fetch&type=dns_denied')
  t.equal(rebuilt[0]?.destination?.host, 'first.evil.example', 'the first violation survived rotation (kept file)')
  t.equal(rebuilt.length, N + 1)
})

t.test('aggregator unreachable during a flood: the sidecar spool holds only the bounded records', async (t) => {
  const upstream = new TestDnsServer({ records: {} })
  await upstream.listen()
  t.teardown(() => upstream.close())
  const dataDir = tempDir(t, 'hangar-flood-sc-')
  // Port 9 on loopback: nothing listens, every delivery attempt fails and the spool keeps all.
  const sc = await startSidecar('http://127.0.0.1:9', dataDir, upstream.address)
  const N = 20_000
  const started = performance.now()
  await flood(sc.port, (i) => `n${i}.evil.example`, N)
  const ms = performance.now() - started
  const spooled = (await sc.metrics.shipper.signalsSpooled.get()).values[0]?.value ?? 0
  const bound = 200 + 50 * (ms / 1000 + 1) + 10
  t.ok(spooled > 0 && spooled <= bound, `${spooled} signals spooled for ${N} denied queries (bound ${Math.round(bound)})`)
  const bytes = readdirSync(join(dataDir, 'spool')).reduce((n, f) => n + statSync(join(dataDir, 'spool', f)).size, 0)
  t.ok(bytes < 1024 * 1024, `spool on disk: ${bytes} bytes`)
  await sc.close()
})
