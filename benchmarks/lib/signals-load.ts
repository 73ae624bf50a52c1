/**
 * The ingest load: closed-loop senders POSTing `{signals: [...]}` batches of valid
 * `hangar.signal/v1` signals with undici, each sender with one batch in flight (as a sidecar's
 * shipper has), every signal with a fresh UUIDv7 id (signals/build.ts ids; uuid v7 is monotonic
 * within one process, so no id repeats in a run).
 *
 * Bodies are made from one template batch (built with buildSignal: a realistic mix of signal
 * types) whose ids are overwritten in place for each POST, so the runner spends microseconds,
 * not milliseconds, per batch and the server under test stays the bottleneck.
 */
import { Pool } from 'undici'
import { v7 as uuidv7 } from 'uuid'
import { buildSignal, type SignalInput } from '../../signals/build.js'
import type { Server } from './procs.js'
import { percentile } from './stats.js'
import { cpuSeconds } from './sysinfo.js'

/** A batch body with the byte offsets of its ids. */
export interface BatchTemplate {
  body: Buffer
  /** Byte offset of each signal's 36-character id in `body`. */
  idOffsets: number[]
}

const MIX: SignalInput[] = [
  {
    kind: 'violation', type: 'egress_denied', action: 'blocked', enforcement_mode: 'block',
    destination: { host: 'exfil.example.net', port: 443, protocol: 'https' }, rule: 'default-deny',
    reason: 'exfil.example.net:443 is not in the egress allowlist', details: { via: 'connect', client: '10.254.1.2:51234', code: 'not_allowed' },
  },
  {
    kind: 'violation', type: 'dns_denied', action: 'blocked', enforcement_mode: 'block',
    destination: { host: 'n1.tunnel.example.org', protocol: 'dns' }, rule: 'default-deny',
    reason: 'n1.tunnel.example.org is not in the DNS allowlist', details: { qtype: 'A', client: '10.254.1.2:40001' },
  },
  {
    kind: 'violation', type: 'tool_denied', action: 'blocked', enforcement_mode: 'block', tool: 'delete_repository',
    session_id: '6f1c2a4e-0d5b-4b7e-9c1a-2e3f4a5b6c7d', caller: 'agent-42', rule: 'deny_list[0]',
    reason: 'delete_repository is on the deny_list', trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: '00f067aa0ba902b7',
    details: { jsonrpc_id: 17 },
  },
  {
    kind: 'observation', type: 'egress_allowed', action: 'allowed', enforcement_mode: 'block',
    destination: { host: 'api.github.com', ip: '140.82.112.6', port: 443, protocol: 'https' }, rule: 'egress[0]',
    reason: 'api.github.com:443 matches egress[0]', details: { via: 'connect' },
  },
  {
    kind: 'observation', type: 'tool_called', action: 'allowed', enforcement_mode: 'block', tool: 'search_issues',
    session_id: '6f1c2a4e-0d5b-4b7e-9c1a-2e3f4a5b6c7d', caller: 'agent-42', reason: 'search_issues answered in 84 ms',
    trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: '00f067aa0ba902b8',
    details: { argument_keys: ['query', 'repo'], outcome: 'ok', duration_ms: 84, is_error: false },
  },
  {
    kind: 'violation', type: 'schema_violation', action: 'blocked', enforcement_mode: 'block', tool: 'create_issue',
    session_id: '6f1c2a4e-0d5b-4b7e-9c1a-2e3f4a5b6c7d', rule: 'inputSchema',
    reason: 'create_issue arguments do not match its inputSchema: /title must be string', details: { errors: ['/title must be string'] },
  },
  {
    kind: 'violation', type: 'rate_limited', action: 'blocked', enforcement_mode: 'block', tool: 'search_issues',
    rule: 'rate_limit', reason: 'more than 10 calls per second', details: { limit_per_s: 10 },
  },
]

/**
 * Builds a batch of `n` valid signals cycling through a mix of types (violations, observations).
 * @returns the JSON body `{"signals":[…]}` and where each id sits in it.
 */
export function batchTemplate(n: number, provider = 'bench'): BatchTemplate {
  const origin = { provider, sidecar_id: 'bench-sidecar-0001' }
  const signals = Array.from({ length: n }, (_, i) => buildSignal(origin, MIX[i % MIX.length]!))
  const body = Buffer.from(JSON.stringify({ signals }))
  const idOffsets: number[] = []
  let from = 0
  for (const s of signals) {
    const at = body.indexOf(`"id":"${s.id}"`, from, 'latin1')
    if (at < 0) throw new Error(`batchTemplate: id ${s.id} not found in the body`)
    idOffsets.push(at + 6)
    from = at + 6 + 36
  }
  return { body, idOffsets }
}

/** A copy of the template with a fresh UUIDv7 in every id. */
export function freshBody(t: BatchTemplate): Buffer {
  const b = Buffer.from(t.body)
  for (const off of t.idOffsets) b.write(uuidv7(), off, 36, 'latin1')
  return b
}

/** One ingest run against one server. */
export interface IngestRun {
  /** Signals acknowledged (202 `accepted`) per second over the recorded window. */
  rate: number
  /** Batches whose 202 arrived in the recorded window. */
  windowBatches: number
  /** Signals acknowledged in the whole run, warm-up included (to compare with the audit log). */
  acceptedTotal: number
  /** Signals sent in the whole run. */
  sentTotal: number
  /** Sum of 202 `duplicates` and of `rejected` lengths: both must be 0 (every id is fresh and valid). */
  duplicates: number
  rejected: number
  /** Non-202 answers and transport errors; the first one's text. */
  errors: number
  firstError?: string
  /** Latency of each batch (POST sent → 202 read) in the window, ms. */
  p50Ms: number
  p99Ms: number
  maxMs: number
  /** CPU (cores) the server used over the window. */
  serverCpu: number | undefined
  /** Filled in by the caller: lines/ids found in the server's output file(s). */
  audit?: { lines: number; uniqueIds: number; corrupt: number }
}

export interface IngestLoad {
  /** `http://127.0.0.1:<port>`. */
  origin: string
  token: string
  senders: number
  warmupS: number
  durationS: number
  template: BatchTemplate
  server?: Server
}

interface Answer {
  accepted?: number
  duplicates?: number
  rejected?: unknown[]
}

/**
 * Runs `senders` closed-loop senders for warm-up + duration seconds and measures the window after
 * the warm-up. Batches in flight when the time is up are awaited (they count in the totals).
 */
export async function ingestRun(o: IngestLoad): Promise<IngestRun> {
  const pool = new Pool(o.origin, { connections: o.senders, pipelining: 1, keepAliveTimeout: 60_000 })
  const t0 = performance.now()
  const ws = t0 + o.warmupS * 1000
  const we = ws + o.durationS * 1000
  const lat: number[] = []
  let windowAccepted = 0
  const r = { windowBatches: 0, acceptedTotal: 0, sentTotal: 0, duplicates: 0, rejected: 0, errors: 0, firstError: undefined as string | undefined }
  const perBatch = o.template.idOffsets.length
  let cpuStart: number | undefined
  let cpuEnd: number | undefined
  const cpu = () => (o.server && !o.server.exitedYet() ? cpuSeconds(o.server.pid) : undefined)
  const startTimer = setTimeout(() => (cpuStart = cpu()), o.warmupS * 1000)
  const endTimer = setTimeout(() => (cpuEnd = cpu()), (o.warmupS + o.durationS) * 1000)
  const sender = async () => {
    while (performance.now() < we) {
      const body = freshBody(o.template)
      const a = performance.now()
      r.sentTotal += perBatch
      try {
        const res = await pool.request({
          path: '/v1/signals',
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${o.token}` },
          body,
        })
        const text = await res.body.text()
        const b = performance.now()
        if (res.statusCode !== 202) {
          r.errors++
          r.firstError ??= `${res.statusCode} ${text.slice(0, 300)}`
          continue
        }
        const ans = JSON.parse(text) as Answer
        const accepted = ans.accepted ?? 0
        r.acceptedTotal += accepted
        r.duplicates += ans.duplicates ?? 0
        r.rejected += ans.rejected?.length ?? 0
        if (b >= ws && b <= we) {
          windowAccepted += accepted
          r.windowBatches++
          lat.push(b - a)
        }
      } catch (err) {
        r.errors++
        r.firstError ??= (err as Error).message
        await new Promise((res) => setTimeout(res, 10))
      }
    }
  }
  try {
    await Promise.all(Array.from({ length: o.senders }, sender))
  } finally {
    clearTimeout(startTimer)
    clearTimeout(endTimer)
    await pool.close()
  }
  lat.sort((x, y) => x - y)
  return {
    rate: windowAccepted / o.durationS,
    ...r,
    p50Ms: percentile(lat, 0.5),
    p99Ms: percentile(lat, 0.99),
    maxMs: lat[lat.length - 1] ?? NaN,
    serverCpu: cpuStart !== undefined && cpuEnd !== undefined ? (cpuEnd - cpuStart) / o.durationS : undefined,
  }
}
