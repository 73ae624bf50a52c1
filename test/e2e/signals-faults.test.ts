/**
 * Signal delivery under faults, with real processes: `mcp-hangar aggregator` and
 * `mcp-hangar egress` run as children from source (test/fixtures/control-plane/), the sidecar's
 * decisions are DNS queries for denied names over TCP (each answered NXDOMAIN = one
 * `dns_denied` signal, never sampled), and the outcome is read from the audit files on disk and
 * the query API.
 *
 * (a) the aggregator is stopped (SIGTERM, and SIGKILL) while the sidecar produces 10,000 signals
 *     and started again 30 s later: every signal id is in the audit log exactly once;
 * (b) the sidecar is SIGKILLed mid-stream (aggregator up, and down) and restarted: its spool is
 *     replayed, every decision the client saw answered is stored exactly once;
 * (c) a torn last audit line (power cut) is detected, saved aside and cut on restart with a log
 *     line; nothing else is lost and new ingests follow it;
 * and a wrong signal token: 401, nothing stored, the sidecar keeps spooling, and after the
 * operator fixes the token everything arrives.
 *
 * Ground truth is what the client saw (answers received) and what the sidecar says it emitted
 * (its `signal_log` copy); ids are counted with Maps, so a lost or a duplicated signal fails.
 */
import t, { type Test } from 'tap'
import { appendFileSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { buildSignal } from '../../signals/build.js'
import type { Signal } from '../../signals/types.js'
import type { CliProcess, Exit } from '../fixtures/control-plane/cli-process.js'
import { DnsTcpClient, deniedNames, endlessDeniedNames } from '../fixtures/control-plane/dns-client.js'
import {
  ControlPlane, PROVIDER, SIGNAL_TOKEN, deniedNameCounts, duplicateIds, metricValue, readJsonLines, spooled, until,
  type AuditContent, type RunningSidecar,
} from '../fixtures/control-plane/rig.js'

// (a) alone waits the mandated 30 s plus up to one full backoff (30 s cap) for the spool to drain.
t.setTimeout(480_000)

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

type Tap = Test

/** Asserts every id of the audit log occurs once. */
function assertIdsUnique(t: Tap, audit: AuditContent, what: string): void {
  const dups = duplicateIds(audit.idCounts)
  t.same(dups, [], `${what}: no signal id is in the audit log twice (${audit.signals.length} lines, ${audit.idCounts.size} ids)`)
  t.equal(audit.unparsable, 0, `${what}: every audit line is JSON`)
}

/** Asserts each of `names` has exactly one `dns_denied` signal in the audit log. */
function assertNamesOnce(t: Tap, counts: Map<string, number>, names: Iterable<string>, what: string): void {
  const missing: string[] = []
  const twice: string[] = []
  let n = 0
  for (const name of names) {
    n++
    const c = counts.get(name) ?? 0
    if (c === 0) missing.push(name)
    if (c > 1) twice.push(name)
  }
  t.same(missing.slice(0, 5), [], `${what}: none of the ${n} decisions is missing from the audit log (${missing.length} missing)`)
  t.same(twice.slice(0, 5), [], `${what}: none is stored twice (${twice.length} twice)`)
}

/** Asserts every signal the sidecars emitted (their `signal_log` copy) is in the audit log exactly once. */
function assertEmittedOnce(t: Tap, cp: ControlPlane, audit: AuditContent, what: string): void {
  const emitted = readJsonLines<Signal>(cp.emittedLog)
  const missing = emitted.filter((s) => (audit.idCounts.get(s.id) ?? 0) !== 1)
  t.ok(emitted.length > 0, `${what}: the sidecar's signal_log copy was written`)
  t.same(missing.slice(0, 5).map((s) => [s.id, s.type, audit.idCounts.get(s.id) ?? 0]), [], `${what}: all ${emitted.length} emitted signals are in the audit log exactly once`)
}

/** Waits until the sidecar's spool is empty and every name has a stored `dns_denied`. */
async function drained(cp: ControlPlane, sc: RunningSidecar, names: ReadonlySet<string> | readonly string[], timeoutMs: number, what: string): Promise<void> {
  const want = [...names]
  await until(
    async () => (await spooled(sc)) === 0 && (() => {
      const c = deniedNameCounts(cp.audit().signals)
      return want.every((n) => c.has(n))
    })(),
    timeoutMs,
    what,
    async () => {
      const c = deniedNameCounts(cp.audit().signals)
      return `spooled=${String(await spooled(sc))}, stored ${want.filter((n) => c.has(n)).length}/${want.length}\n${sc.proc.tail(10)}`
    },
  )
}

/** A valid signal of provider `p` (what a sidecar would send), for direct POSTs. */
function testSignal(i: number): Signal {
  return buildSignal({ provider: PROVIDER, sidecar_id: 'p-direct' }, {
    kind: 'violation', type: 'egress_denied', action: 'blocked', enforcement_mode: 'block',
    destination: { host: `direct${i}.denied.test`, port: 443, protocol: 'https' }, rule: 'default-deny',
    reason: `egress to direct${i}.denied.test:443 refused`, details: { code: 'no_matching_rule', n: i },
  })
}

/**
 * signals/sink.ts JsonLinesSink.flush() waits for a 'drain' event, which a stream emits only
 * after a write() returned false; with a few bytes pending it never resolves. The sidecar's stop
 * (EgressSidecar.stop → sink.flush) then hangs whenever another handle keeps the process alive:
 * here the shipper retrying an undeliverable batch.
 */

/** Sends `signal` and waits up to `ms` for the exit; undefined when the child still runs. */
async function stopWithin(p: CliProcess, signal: NodeJS.Signals, ms: number): Promise<Exit | undefined> {
  p.child.kill(signal)
  let timer: NodeJS.Timeout | undefined
  const r = await Promise.race([p.exited, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)))])
  clearTimeout(timer)
  return r
}

async function postSignals(cp: ControlPlane, signals: Signal[], token = SIGNAL_TOKEN): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${cp.url}/v1/signals`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ signals }),
  })
  const text = await res.text()
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} }
}

/** (a) for one way of stopping the aggregator; assertions prefixed with the variant. */
async function aggregatorOutage(t: Tap, stop: 'SIGTERM' | 'SIGKILL'): Promise<void> {
  const v = `aggregator ${stop}`
  const cp = await ControlPlane.create(t)
  let agg = await cp.startAggregator(`aggregator (${stop})`)
  const sc = await cp.startSidecar(`sidecar (${stop})`)
  await until(() => cp.audit().signals.some((s) => s.type === 'sidecar_started'), 20_000, `${v}: sidecar_started stored`)

  const down = Date.now()
  const exit = await agg.stop(stop)
  if (stop === 'SIGTERM') t.equal(exit.code, 0, `${v}: the aggregator exited cleanly`)
  else t.equal(exit.signal, 'SIGKILL', `${v}: the aggregator was killed`)

  const names = deniedNames('a', 10_000)
  const client = await DnsTcpClient.connect(sc.dnsPort)
  const r = await client.run(names, 32)
  client.close()
  t.ok(r.complete, `${v}: all 10,000 queries answered (${r.error ?? 'ok'})`)
  t.equal(client.answered.size, 10_000, `${v}: 10,000 decisions seen by the client`)
  t.same([...new Set(client.answered.values())], ['NXDOMAIN'], `${v}: every answer is NXDOMAIN`)
  const waiting = await spooled(sc)
  t.ok(waiting !== undefined && waiting >= 10_000, `${v}: the signals wait in the sidecar's spool (${String(waiting)})`)
  t.ok(sc.proc.lines.some((l) => typeof l.msg === 'string' && l.msg.startsWith('signal delivery failed')), `${v}: the sidecar logged the delivery failure`)
  t.comment(`${v}: 10,000 decisions in ${Date.now() - down} ms; aggregator restarts 30 s after the stop`)

  await sleep(Math.max(0, down + 30_000 - Date.now()))
  agg = await cp.startAggregator(`aggregator (${stop}, restarted)`)
  const startedAt = Date.now()
  await drained(cp, sc, names, 120_000, `${v}: the spool drained into the audit log`)
  t.comment(`${v}: spool drained ${Date.now() - startedAt} ms after the restart`)

  const stopped = await sc.proc.stop('SIGTERM')
  t.equal(stopped.code, 0, `${v}: the sidecar stopped cleanly`)
  const audit = cp.audit()
  assertIdsUnique(t, audit, v)
  const counts = deniedNameCounts(audit.signals)
  assertNamesOnce(t, counts, names, v)
  t.equal(counts.size, 10_000, `${v}: no dns_denied beyond the 10,000 decisions`)
  assertEmittedOnce(t, cp, audit, v)
  t.notOk(audit.signals.some((s) => s.type === 'signals_dropped'), `${v}: no loss reported`)
  t.ok(audit.signals.some((s) => s.type === 'sidecar_stopped'), `${v}: the stop signal arrived too`)
  // The restarted aggregator's index (rebuilt from the log, then fed by the replayed spool).
  const api = await cp.querySignals({ type: 'dns_denied', provider: PROVIDER })
  t.equal(new Set(api.map((s) => s.id)).size, 10_000, `${v}: GET /v1/signals returns the 10,000 dns_denied signals`)
  t.equal(api.length, 10_000, `${v}: each once`)
  await agg.stop('SIGTERM')
}

t.test('(a) the aggregator is stopped while a sidecar produces 10,000 signals and restarted 30 s later: every id stored exactly once', async (t) => {
  // Both variants at once: the 30 s outage is the cost, not the CPU.
  await Promise.all([aggregatorOutage(t, 'SIGTERM'), aggregatorOutage(t, 'SIGKILL')])
})

/** (b) with the aggregator up or down while the sidecar is killed. */
async function sidecarKill(t: Tap, aggregatorUp: boolean): Promise<void> {
  const v = aggregatorUp ? 'aggregator up' : 'aggregator down'
  const cp = await ControlPlane.create(t)
  let agg = await cp.startAggregator()
  if (!aggregatorUp) await agg.stop('SIGTERM')
  const sc1 = await cp.startSidecar('sidecar 1')
  const client = await DnsTcpClient.connect(sc1.dnsPort)
  const running = client.run(endlessDeniedNames('b'), 32)
  await until(
    () => client.answered.size >= 3000 && (!aggregatorUp || deniedNameCounts(cp.audit().signals).size >= 500),
    60_000,
    `${v}: the client streaming${aggregatorUp ? ' and signals arriving' : ''}`,
  )
  const killed = await sc1.proc.stop('SIGKILL')
  const r = await running
  t.equal(killed.signal, 'SIGKILL', `${v}: the sidecar was SIGKILLed`)
  t.notOk(r.complete, `${v}: mid-stream (the connection died: ${r.error ?? ''})`)
  const answered = new Set(client.answered.keys())
  const sent = client.sent
  const storedBefore = deniedNameCounts(cp.audit().signals).size
  t.comment(`${v}: killed after ${answered.size} answers (${sent.length} sent); ${storedBefore} stored before the kill`)
  if (!aggregatorUp) t.equal(storedBefore, 0, `${v}: nothing was delivered before the kill`)

  const sc2 = await cp.startSidecar('sidecar 2')
  if (!aggregatorUp) agg = await cp.startAggregator('aggregator (started after the kill)')
  await drained(cp, sc2, answered, 90_000, `${v}: the restarted sidecar replayed its spool`)
  const replayed = sc2.proc.lines.find((l) => l.msg === 'signals delivered again')
  t.comment(`${v}: replayed ${answered.size - storedBefore}+ signals from the spool${replayed ? ' after retries' : ''}`)

  const audit = cp.audit()
  assertIdsUnique(t, audit, v)
  const counts = deniedNameCounts(audit.signals)
  assertNamesOnce(t, counts, answered, v)
  const sentSet = new Set(sent)
  t.same([...counts.keys()].filter((n) => !sentSet.has(n)).slice(0, 5), [], `${v}: every stored decision was a query the client sent`)
  const inflight = sent.filter((n) => !answered.has(n))
  t.ok(inflight.every((n) => (counts.get(n) ?? 0) <= 1), `${v}: the ${inflight.length} queries in flight at the kill are stored at most once`)
  t.notOk(audit.signals.some((s) => s.type === 'signals_dropped'), `${v}: no loss reported (no torn spool line)`)
  t.equal(audit.signals.filter((s) => s.type === 'sidecar_started').length, 2, `${v}: both sidecar runs signalled their start`)
  const dup = await metricValue(`${cp.url}/metrics`, 'mcp_hangar_aggregator_signals_total', { outcome: 'duplicate' })
  t.comment(`${v}: duplicates the aggregator absorbed after this start: ${String(dup)}`)
  await sc2.proc.stop('SIGTERM')
  await agg.stop('SIGTERM')
}

t.test('(b) the sidecar is SIGKILLed mid-stream and restarted: the spool is replayed, no loss, no duplicates', async (t) => {
  await t.test('aggregator up', (t) => sidecarKill(t, true))
  await t.test('aggregator down until after the restart', (t) => sidecarKill(t, false))
})

t.test('(c) a torn last line in the audit log is detected, saved aside and cut on restart; nothing else is lost', async (t) => {
  const cp = await ControlPlane.create(t)
  let agg = await cp.startAggregator()
  const first: Signal[] = []
  for (let b = 0; b < 4; b++) {
    const batch = Array.from({ length: 500 }, (_, i) => testSignal(b * 500 + i))
    const r = await postSignals(cp, batch)
    t.equal(r.status, 202, `batch ${b} accepted`)
    t.match(r.body, { accepted: 500, duplicates: 0, rejected: [] })
    first.push(...batch)
  }
  const killed = await agg.stop('SIGKILL')
  t.equal(killed.signal, 'SIGKILL', 'the aggregator was SIGKILLed')

  // Power cut mid-write: half a line, no newline.
  const file = join(cp.aggregatorDir, 'audit', 'audit.jsonl')
  const size = statSync(file).size
  const lost = testSignal(9999)
  const torn = JSON.stringify(lost).slice(0, Math.floor(JSON.stringify(lost).length / 2))
  appendFileSync(file, torn)

  agg = await cp.startAggregator('aggregator (restarted)')
  const warn = agg.linesWith('audit log: torn tail detected and cut off (never acknowledged)')
  t.equal(warn.length, 1, 'one log line reports the torn tail')
  t.equal(warn[0]?.level, 40, 'at warn level')
  t.equal(warn[0]?.offset, size, 'it names the offset where the valid log ends')
  t.equal(warn[0]?.bytes, Buffer.byteLength(torn), 'and the bytes cut')
  const copy = String(warn[0]?.copy)
  t.equal(copy, `${file}.torn-${size}`, 'the torn bytes are saved beside the log')
  t.equal(readFileSync(copy, 'utf8'), torn, 'byte for byte')
  t.equal(statSync(file).size, size, 'the log is cut back to its last full line')
  const rebuilt = agg.linesWith('signal store rebuilt from the audit log')[0]
  t.match(rebuilt, { signals: 2000, corrupt_lines: 0, torn_bytes: Buffer.byteLength(torn) }, 'the rebuild found all 2000 signals')

  let audit = cp.audit()
  assertIdsUnique(t, audit, 'after the repair')
  t.same(audit.signals.map((s) => s.id), first.map((s) => s.id), 'every acknowledged signal is still in the file, in order')
  const api = await cp.querySignals({ provider: PROVIDER })
  t.same(new Set(api.map((s) => s.id)), new Set(first.map((s) => s.id)), 'and in the rebuilt index (GET /v1/signals)')

  // The torn signal was never acknowledged: its sender sends it again, and it is new to the store.
  const more = [lost, ...Array.from({ length: 100 }, (_, i) => testSignal(10_000 + i))]
  const r = await postSignals(cp, more)
  t.equal(r.status, 202)
  t.match(r.body, { accepted: 101, duplicates: 0 }, 'the re-sent torn signal and 100 new ones are stored')
  const again = await postSignals(cp, first.slice(0, 3))
  t.match(again.body, { accepted: 0, duplicates: 3 }, 'old ids are still known to the rebuilt dedup set')
  audit = cp.audit()
  assertIdsUnique(t, audit, 'after new ingests')
  t.same(audit.signals.map((s) => s.id), [...first, ...more].map((s) => s.id), 'new ingests follow the repaired end, line-aligned')
  const api2 = await cp.querySignals({ provider: PROVIDER })
  t.equal(api2.length, 2101, 'GET /v1/signals returns old and new signals')
  t.equal(api2[0]?.id, more.at(-1)?.id, 'newest first')
  await agg.stop('SIGTERM')
})

t.test('a wrong signal token: 401, nothing stored, the sidecar keeps spooling; after the fix everything arrives', async (t) => {
  const cp = await ControlPlane.create(t)
  const agg = await cp.startAggregator()
  const wrong = cp.writeConfig('wrong-token.yaml', 'signal-token-wrong')
  const sc1 = await cp.startSidecar('sidecar (wrong token)', wrong)

  const direct = await postSignals(cp, [testSignal(1)], 'signal-token-wrong')
  t.equal(direct.status, 401, 'the aggregator answers 401 to the wrong token')
  const names = deniedNames('w', 300)
  const client = await DnsTcpClient.connect(sc1.dnsPort)
  const r = await client.run(names, 32)
  client.close()
  t.ok(r.complete && client.answered.size === 300, '300 decisions answered')
  await sc1.proc.waitFor((l) => typeof l.msg === 'string' && l.msg.startsWith('signal delivery failed') && l.reason === 'auth', 20_000, 'the auth failure log line')
  const unauthorized = await metricValue(`${cp.url}/metrics`, 'mcp_hangar_aggregator_signal_batches_total', { outcome: 'unauthorized' })
  t.ok(unauthorized !== undefined && unauthorized >= 2, `the sidecar's batches were refused as unauthorized (${String(unauthorized)})`)
  const waiting = await spooled(sc1)
  t.ok(waiting !== undefined && waiting >= 301, `the sidecar keeps its signals spooled (${String(waiting)})`)
  t.equal(cp.audit().signals.length, 0, 'nothing was written to the audit log')
  t.same(await cp.querySignals(), [], 'nothing is queryable')

  // A clean stop takes ~10 s here: the sidecar's final flush and the shipper's close wait 5 s each.
  const stopped = await stopWithin(sc1.proc, 'SIGTERM', 25_000)
  t.equal(stopped?.code, 0, 'the sidecar exits cleanly on SIGTERM while its signals are undeliverable')
  const closed = sc1.proc.linesWith('signal shipper closed')[0]
  t.ok(typeof closed?.spooled === 'number' && closed.spooled >= 302, `they stay in the spool (${String(closed?.spooled)})`)
  if (!stopped) await sc1.proc.stop('SIGKILL')

  // The operator fixes the token: same data_dir, the right config.
  const sc2 = await cp.startSidecar('sidecar (token fixed)')
  await drained(cp, sc2, names, 60_000, 'the spool delivered with the right token')
  await sc2.proc.stop('SIGTERM')
  const audit = cp.audit()
  assertIdsUnique(t, audit, 'after the fix')
  assertNamesOnce(t, deniedNameCounts(audit.signals), names, 'after the fix')
  assertEmittedOnce(t, cp, audit, 'after the fix')
  t.equal(audit.signals.filter((s) => s.type === 'sidecar_started').length, 2, 'both runs signalled their start')
  t.equal(audit.signals.filter((s) => s.type === 'sidecar_stopped').length, 2, 'and their stop')
  await agg.stop('SIGTERM')
})
