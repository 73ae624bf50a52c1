/**
 * The deviation detector (enterprise/behavioral/detector.ts) over baselines the real recorder
 * learned on an injected clock, fed through the sidecar's tee (so the recorder keeps learning
 * what the detector judges): maturity, every class detected within one window with its severity
 * and the baseline figure next to the observed one (each with a control that stays inside the
 * baseline), the snapshot and its refresh, cooldowns and roll-ups, the per-class budget, and what
 * each enforcement mode does.
 */
import t from 'tap'
import { parseBaseline } from '../../../policy/baseline-schema.js'
import { BaselineRecorder } from '../../../profiles/baseline/recorder.js'
import { DeviationTee } from '../../../sidecar/baseline.js'
import { EPOCH, HOUR, IDENTITY, KNOWN, MINUTE, clockAt, detectorRig, learn, replayBaseline } from './rig.js'

type Details = Record<string, unknown>
const details = (s: { details?: unknown }): Details => s.details as Details

/** A mature baseline (60 learned minutes), its detector and a tee feeding both. */
function mature(o: Parameters<typeof detectorRig>[2] & { minutes?: number; callsPerMinute?: number } = {}) {
  const { recorder, clock } = learn({ minutes: o.minutes ?? 60, ...(o.callsPerMinute !== undefined && { callsPerMinute: o.callsPerMinute }) })
  const rig = detectorRig(() => recorder.snapshot(), clock, o)
  const tee = new DeviationTee(recorder)
  tee.detector = rig.detector
  return { ...rig, recorder, clock, tee }
}

t.test('maturity: nothing is compared before min_observations and the learning window; then the same event is a deviation', async (t) => {
  const { recorder, clock } = learn({ minutes: 5 })
  const rig = detectorRig(() => recorder.snapshot(), clock, { config: { learning_window_ms: 30 * MINUTE } })
  const tee = new DeviationTee(recorder)
  tee.detector = rig.detector
  t.equal(rig.detector.mature, false, '5 learned minutes of a 30-minute window: immature')
  tee.egress({ host: 'new.attacker.test', port: 443, protocol: 'tunnel', via: 'connect', action: 'allowed' })
  t.same(rig.signals, [], 'immature: a new destination is not flagged')
  clock.now = EPOCH + 31 * MINUTE
  tee.egress({ host: 'early.attacker.test', port: 443, protocol: 'tunnel', via: 'connect', action: 'allowed' })
  t.same(rig.signals, [], 'the data path never takes a snapshot itself')
  rig.detector.sweep()
  t.equal(rig.detector.mature, true, 'the learning window passed: mature at the next sweep')
  tee.egress({ host: 'other.attacker.test', port: 443, protocol: 'tunnel', via: 'connect', action: 'allowed' })
  t.equal(rig.of('new_destination').length, 1, 'the next new destination is flagged')
  t.equal(details(rig.signals[0]!).key, 'other.attacker.test|443')
  t.match(await rig.metrics.registry.metrics(), /mcp_hangar_behavior_baseline_mature\{provider="p"\} 1/)

  const few = learn({ minutes: 60 })
  const strict = detectorRig(() => few.recorder.snapshot(), few.clock, { config: { min_observations: 100_000 } })
  strict.detector.egress({ host: 'new.attacker.test', port: 443, protocol: 'tunnel', via: 'connect', action: 'allowed' })
  t.equal(strict.detector.mature, false, `${few.recorder.snapshot().events} events < min_observations 100000: immature after an hour`)
  t.same(strict.signals, [])
  const enough = detectorRig(() => few.recorder.snapshot(), few.clock, { config: { min_observations: 100 } })
  enough.detector.egress({ host: 'new.attacker.test', port: 443, protocol: 'tunnel', via: 'connect', action: 'allowed' })
  t.equal(enough.of('new_destination').length, 1, 'control: min_observations 100 on the same baseline flags it')
})

t.test('maturity checks stay off the data path and back off: a minute, doubling up to an hour while events are too few; once they suffice, at the window\'s end', async (t) => {
  const few = learn({ minutes: 2 })
  let snapshots = 0
  const rig = detectorRig(() => (snapshots++, few.recorder.snapshot()), few.clock, { config: { min_observations: 1_000_000 } })
  t.equal(snapshots, 1, 'one look at creation')
  for (let i = 0; i < 1000; i++) rig.detector.egress({ host: 'x.test', port: 1, protocol: 'tcp', via: 'connect', action: 'allowed' })
  t.equal(snapshots, 1, 'the data path takes none')
  const looks: number[] = []
  for (let s = 0; s < 8 * 3600; s += 10) {
    few.clock.now += 10_000
    const before = snapshots
    rig.detector.sweep()
    if (snapshots > before) looks.push(Math.round((few.clock.now - EPOCH) / 60_000))
  }
  const gaps = looks.slice(1).map((m, i) => m - looks[i]!)
  t.same(gaps.slice(0, 5), [2, 4, 8, 16, 32], `looks at doubling intervals (minutes): ${looks.join(', ')}`)
  t.ok(gaps.every((g) => g <= 60), 'never more than an hour apart')

  const enough = learn({ minutes: 2 })
  let n = 0
  const waiting = detectorRig(() => (n++, enough.recorder.snapshot()), enough.clock, { config: { learning_window_ms: 3 * HOUR } })
  for (let s = 0; s < 4 * 3600; s += 10) {
    enough.clock.now += 10_000
    waiting.detector.sweep()
  }
  t.equal(n, 2, 'enough events: one look at creation, one when the 3 h window ended')
  t.equal(waiting.detector.mature, true)
})

t.test('the learned workload itself is no deviation (the control of every class below)', async (t) => {
  const r = mature()
  for (let m = 0; m < 30; m++) {
    for (const d of KNOWN.destinations) r.tee.egress({ ...d, protocol: 'https', via: 'transparent_tls', action: 'allowed' })
    r.tee.egressBytes({ ...KNOWN.destinations[0]!, protocol: 'tunnel' }, 5000, 5000)
    for (const n of KNOWN.names) r.tee.dnsQuery(n, 'AAAA', 'allowed')
    r.tee.toolCalled('read_file', false, { path: '/x' }, IDENTITY)
    r.tee.toolCalled('search', false, { query: 'q', limit: 3 }, IDENTITY)
    r.clock.now += MINUTE
    r.detector.sweep()
  }
  t.equal(r.detector.mature, true)
  t.same(r.signals, [], 'thirty minutes inside the baseline (another protocol and QTYPE, a subset of the keys): zero deviations')
})

t.test('replay: recorded baselines replayed as live traffic are no deviation; the same replay plus one foreign event is', async (t) => {
  const steady = learn({ minutes: 90, callsPerMinute: 7, bytesPerMinute: 250_000 }).recorder
  // A bursty provider: quiet minutes, busy minutes, a CDN burst of names.
  const clock = clockAt()
  const bursty = new BaselineRecorder({ provider: 'p', mode: 'alert', clock: clock.clock })
  for (let m = 0; m < 120; m++) {
    const busy = m % 15 === 0
    for (let i = 0; i < (busy ? 40 : 1 + (m % 3)); i++) bursty.toolCalled(i % 2 ? 'search' : 'fetch', false, i % 2 ? { q: 1 } : { url: 1, headers: 1 }, IDENTITY)
    bursty.egress({ host: `api${m % 4}.example.com`, port: 443, protocol: 'https', via: 'transparent_tls', action: 'allowed' })
    bursty.egressBytes({ host: `api${m % 4}.example.com`, port: 443, protocol: 'https' }, busy ? 5_000_000 : 20_000, 0)
    if (m === 30) for (let i = 0; i < 25; i++) bursty.dnsQuery(`edge${i}.cdn.example.net`, 'A', 'allowed')
    bursty.dnsQuery(`api${m % 4}.example.com`, 'A', 'allowed')
    clock.now += MINUTE
  }
  for (const [name, recorder] of [['steady', steady], ['bursty', bursty]] as const) {
    const b = parseBaseline(JSON.parse(JSON.stringify(recorder.snapshot())))
    const live = clockAt(Date.parse(b.updated) + 4 * HOUR)
    const rig = detectorRig(() => b, live)
    const events = replayBaseline(b, rig.detector, live)
    t.equal(rig.detector.mature, true)
    t.same(rig.signals, [], `${name}: ${events} replayed events, zero deviations`)
    rig.detector.egress({ host: 'foreign.example.org', port: 443, protocol: 'tunnel', via: 'connect', action: 'allowed' })
    t.equal(rig.of('new_destination').length, 1, `${name}: control, one foreign destination is detected`)
  }
})

t.test('new destination: critical, the destination filled, baseline 0 next to observed 1', async (t) => {
  const r = mature()
  r.tee.egress({ host: 'exfil.attacker.test', ip: '203.0.113.9', port: 443, protocol: 'tunnel', via: 'connect', action: 'allowed' })
  r.tee.egress({ ip: '203.0.113.10', port: 22, protocol: 'tcp', via: 'tcp_forward', action: 'blocked' })
  r.tee.egress({ host: 'api.example.com', port: 8443, protocol: 'tunnel', via: 'connect', action: 'allowed' })
  const s = r.of('new_destination')
  t.same(s.map((x) => details(x).key), ['exfil.attacker.test|443', '203.0.113.10|22', 'api.example.com|8443'], 'a new host, a new IP literal, a known host on a new port')
  t.match(s[0], { kind: 'violation', type: 'behavior_deviation', severity: 'critical', action: 'alerted', enforcement_mode: 'alert', destination: { host: 'exfil.attacker.test', port: 443, protocol: 'https' } })
  t.match(details(s[0]!), { class: 'new_destination', baseline: 0, observed: 1, known_destinations: 3, decision: 'allowed', via: 'connect' })
  t.match(s[1], { destination: { ip: '203.0.113.10', port: 22, protocol: 'tcp' } })
  t.equal(details(s[1]!).decision, 'blocked', 'an attempt the policy refused is a deviation too (the behaviour changed)')
  // The direct IP of a host the baseline only reached by name is a new destination (DNS bypassed).
  r.tee.egress({ ip: '198.51.100.7', port: 5432, protocol: 'tunnel', via: 'connect', action: 'allowed' })
  t.equal(r.of('new_destination').length, 3, 'control: the learned IP literal is known')
})

t.test('new DNS name: high; DNS shape (tunnelling): critical with the learned peak next to the observed names', async (t) => {
  const r = mature()
  r.tee.dnsQuery('mail.example.org', 'MX', 'allowed')
  const n = r.of('new_dns_name')
  t.equal(n.length, 1)
  t.match(n[0], { severity: 'high', destination: { host: 'mail.example.org', protocol: 'dns' } })
  t.match(details(n[0]!), { class: 'new_dns_name', baseline: 0, observed: 1, known_names: 3 })
  t.same(r.of('dns_shape'), [], 'one new name is no shape anomaly')

  for (let i = 0; i < 9; i++) r.tee.dnsQuery(`q${i}x.tunnel.example.net`, 'TXT', 'allowed')
  t.same(r.of('dns_shape'), [], '9 never-seen names under one domain in a minute: below dns_shape_min_names (10)')
  r.tee.dnsQuery('q9x.tunnel.example.net', 'TXT', 'allowed')
  const shape = r.of('dns_shape')
  t.equal(shape.length, 1, 'the 10th within the same minute: detected')
  t.match(shape[0], { severity: 'critical', destination: { host: 'example.net', protocol: 'dns' } })
  t.match(details(shape[0]!), { class: 'dns_shape', baseline: 0, observed: 10, window_ms: 60_000, domain: 'example.net' })
  for (let i = 10; i < 40; i++) r.tee.dnsQuery(`q${i}x.tunnel.example.net`, 'TXT', 'allowed')
  t.equal(r.of('dns_shape').length, 1, 'once per domain per minute')

  // Data as names that are each a registrable domain under a private suffix: still one shape.
  for (let i = 0; i < 10; i++) r.tee.dnsQuery(`d${i}ata${i}x.github.io`, 'A', 'allowed')
  t.match(r.of('dns_shape').at(-1), { destination: { host: 'github.io' } }, 'names under a private suffix count under the suffix')
  t.equal(r.of('dns_shape').length, 2)

  // Control: the same 10 names spread over 10 minutes are new names, not a shape anomaly.
  const c = mature()
  for (let i = 0; i < 10; i++) {
    c.tee.dnsQuery(`slow${i}.example.net`, 'A', 'allowed')
    c.clock.now += MINUTE
  }
  t.equal(c.of('new_dns_name').length, 10)
  t.same(c.of('dns_shape'), [], 'one never-seen name a minute: no shape anomaly')
})

t.test('DNS shape: a domain the baseline learned many names of at once needs rate_factor times its peak', async (t) => {
  const clock = clockAt()
  const { recorder } = learn({ minutes: 40, clock })
  // A CDN-like domain: 8 names first seen in one minute while learning.
  for (let i = 0; i < 8; i++) recorder.dnsQuery(`edge${i}.cdn.example.com`, 'A', 'allowed')
  const rig = detectorRig(() => recorder.snapshot(), clock)
  for (let i = 0; i < 24; i++) rig.detector.dnsQuery(`new${i}.cdn.example.com`, 'A', 'allowed')
  t.same(rig.of('dns_shape'), [], '24 new names: not above 3 × the learned peak of 8')
  rig.detector.dnsQuery('new24.cdn.example.com', 'A', 'allowed')
  t.match(details(rig.of('dns_shape')[0]!), { baseline: 8, observed: 25, domain: 'example.com' }, 'the 25th is')
})

t.test('new tool and new argument keys: high and medium, with the tool and the learned keys', async (t) => {
  const r = mature()
  r.tee.toolCalled('exec_shell', false, { cmd: 'id' }, IDENTITY)
  r.tee.toolCalled(KNOWN.listedOnly, false, { path: '/etc' }, IDENTITY)
  const tools = r.of('new_tool')
  t.same(tools.map((s) => s.tool), ['exec_shell', 'delete_file'])
  t.match(tools[0], { severity: 'high', tool: 'exec_shell' })
  t.match(details(tools[0]!), { listed_before: false, baseline: 0, observed: 1 })
  t.match(details(tools[1]!), { listed_before: true }, 'listed but never called while learning: a new tool')

  r.tee.toolCalled('read_file', false, { path: '/x', encoding: 'utf8', follow_symlinks: true, Authorization: 'x' }, (k) => (k === 'Authorization' ? '[redacted]' : k))
  const keys = r.of('new_argument_keys')
  t.equal(keys.length, 1)
  t.match(keys[0], { severity: 'medium', tool: 'read_file' })
  t.match(details(keys[0]!), { baseline: ['encoding', 'path'], observed: ['[redacted]', 'follow_symlinks'] }, 'the learned keys next to the new ones, redacted as the baseline keeps them')
  r.tee.toolCalled('read_file', false, { path: '/y' }, IDENTITY)
  r.tee.toolCalled('search', false, ['positional'], IDENTITY)
  t.equal(r.of('new_argument_keys').length, 1, 'control: known keys, and no keys at all, are none')
})

t.test('call rate: above max(p95 × rate_factor, learned max) within the minute; the median basis is stricter', async (t) => {
  const r = mature({ callsPerMinute: 4 })
  t.equal(r.detector.reference!.callRate!.threshold, 12, 'learned p95 4 × 3')
  for (let i = 0; i < 12; i++) r.tee.toolCalled('read_file', false, { path: '/x' }, IDENTITY)
  t.same(r.of('call_rate'), [], '12 calls in a minute: at the threshold, not above')
  r.tee.toolCalled('read_file', false, { path: '/x' }, IDENTITY)
  const s = r.of('call_rate')
  t.equal(s.length, 1, 'the 13th call in the same minute is detected')
  t.match(s[0], { severity: 'medium' })
  t.match(details(s[0]!), { class: 'call_rate', baseline: 4, observed: 13, threshold: 12, baseline_max: 4, basis: 'p95', window_ms: 60_000 })
  for (let i = 0; i < 50; i++) r.tee.toolCalled('read_file', false, { path: '/x' }, IDENTITY)
  t.equal(r.of('call_rate').length, 1, 'once per minute')

  // Bursty learning: 2 calls a minute, 20 in every tenth minute: p95 20 → threshold 60; the learned max is never flagged.
  const clock = clockAt()
  const { recorder } = learn({ minutes: 0, clock })
  for (let m = 0; m < 60; m++) {
    for (let i = 0; i < (m % 10 === 9 ? 20 : 2); i++) recorder.toolCalled('read_file', false, {}, IDENTITY)
    clock.now += MINUTE
  }
  for (let i = 0; i < 30; i++) recorder.dnsQuery('api.example.com', 'A', 'allowed')
  const b = detectorRig(() => recorder.snapshot(), clock, { config: { rate_basis: 'median' } })
  for (let i = 0; i < 20; i++) b.detector.toolCalled('read_file', false, {}, IDENTITY)
  t.same(b.of('call_rate'), [], 'median basis: 2 × 3 = 6, but the learned max 20 is the floor')
  b.detector.toolCalled('read_file', false, {}, IDENTITY)
  t.match(details(b.of('call_rate')[0]!), { baseline: 2, basis: 'median', threshold: 20, observed: 21 })
})

t.test('byte rate: egress bytes per minute; a baseline without byte figures (an older recorder) is not compared', async (t) => {
  const r = mature()
  t.equal(r.detector.reference!.byteRate!.threshold, 30_000, 'learned 10000 bytes a minute × 3')
  r.tee.egressBytes({ host: 'api.example.com', port: 443, protocol: 'tunnel' }, 20_000, 10_000)
  t.same(r.of('byte_rate'), [], '30000 bytes: not above')
  r.tee.egressBytes({ host: 'api.example.com', port: 443, protocol: 'tunnel' }, 1, 0)
  const s = r.of('byte_rate')
  t.equal(s.length, 1)
  t.match(s[0], { severity: 'high', destination: { host: 'api.example.com', port: 443 } })
  t.match(details(s[0]!), { baseline: 10_000, observed: 30_001, threshold: 30_000 })

  const old = mature()
  const snap = old.recorder.snapshot()
  delete snap.byte_rate
  delete snap.byte_minutes
  const legacy = detectorRig(() => parseBaseline(snap), old.clock)
  legacy.detector.egressBytes({ host: 'api.example.com', port: 443, protocol: 'tunnel' }, 10_000_000, 0)
  t.equal(legacy.detector.mature, true, 'the older baseline parses and is mature')
  t.same(legacy.of('byte_rate'), [], 'no learned byte figure: the class is not compared')
})

t.test('off hours: only when the baseline shows a daily rhythm; low', async (t) => {
  // Three days of calls 08:00–17:59 UTC.
  const clock = clockAt()
  const { recorder } = learn({ minutes: 0, clock })
  for (let d = 0; d < 3; d++) {
    for (let h = 8; h < 18; h++) {
      for (let m = 0; m < 60; m += 20) {
        clock.now = EPOCH + d * 24 * HOUR + h * HOUR + m * MINUTE
        recorder.toolCalled('read_file', false, { path: '/x' }, IDENTITY)
      }
    }
  }
  clock.now = EPOCH + 3 * 24 * HOUR + 9 * HOUR
  const rig = detectorRig(() => recorder.snapshot(), clock)
  rig.detector.toolCalled('read_file', false, { path: '/x' }, IDENTITY)
  t.same(rig.of('off_hours'), [], '09:00: inside the rhythm')
  clock.now = EPOCH + 3 * 24 * HOUR + 23 * HOUR + 5 * MINUTE
  rig.detector.toolCalled('read_file', false, { path: '/x' }, IDENTITY)
  const s = rig.of('off_hours')
  t.equal(s.length, 1, '23:05: outside it')
  t.match(s[0], { severity: 'low', tool: 'read_file' })
  t.match(details(s[0]!), { observed: 23, baseline: [8, 9, 10, 11, 12, 13, 14, 15, 16, 17] })

  const flat = mature({ minutes: 120 })
  flat.clock.now = EPOCH + 23 * HOUR
  flat.tee.toolCalled('read_file', false, { path: '/x' }, IDENTITY)
  t.same(flat.of('off_hours'), [], 'control: two hours of learning show no daily rhythm, so no hour is off')
})

t.test('the snapshot: a deviation stays one while the recorder learns it; a refresh absorbs it', async (t) => {
  const r = mature({ config: { cooldown_ms: 0, refresh_interval_ms: 2 * HOUR } })
  const evil = { host: 'evil.attacker.test', port: 443, protocol: 'tunnel' as const, via: 'connect' as const, action: 'allowed' as const }
  for (let i = 0; i < 5; i++) {
    r.tee.egress(evil)
    r.clock.now += MINUTE
  }
  t.ok(r.recorder.snapshot().egress.some((e) => e.host === evil.host), 'the recorder learned it')
  t.equal(r.of('new_destination').length, 5, 'still a deviation each time: the detector compares with its snapshot')
  r.clock.now += 2 * HOUR
  r.detector.sweep()
  r.tee.egress(evil)
  t.equal(r.of('new_destination').length, 5, 'after refresh_interval_ms (the sweep refreshed it) the snapshot includes it')
  t.ok(r.detector.reference!.destinations.get('evil.attacker.test')?.has(443))
})

t.test('cooldown and roll-up: one signal per key per cooldown, the repeats in one roll-up at its end', async (t) => {
  const r = mature({ config: { cooldown_ms: 10 * MINUTE } })
  const evil = { host: 'evil.attacker.test', port: 443, protocol: 'tunnel' as const, via: 'connect' as const, action: 'allowed' as const }
  for (let i = 0; i < 7; i++) {
    r.tee.egress(evil)
    r.clock.now += MINUTE
  }
  r.detector.sweep()
  t.equal(r.signals.length, 1, 'seven repeats in 7 minutes of a 10-minute cooldown: one signal')
  r.clock.now += 3 * MINUTE
  r.detector.sweep()
  t.equal(r.signals.length, 2, 'the roll-up at the end of the cooldown')
  t.match(details(r.signals[1]!), { class: 'new_destination', key: 'evil.attacker.test|443', rollup: true, suppressed: 6 })
  t.match(r.signals[1], { severity: 'critical', type: 'behavior_deviation' })
  r.clock.now += MINUTE
  r.detector.sweep()
  t.equal(r.signals.length, 2, 'no repeats: no second roll-up')
  r.tee.egress(evil)
  t.equal(r.signals.length, 3, 'after the cooldown the next occurrence is signalled again')
  t.notOk(details(r.signals[2]!).rollup)
  r.tee.egress(evil)
  r.detector.close()
  t.equal(details(r.signals[3]!).suppressed, 1, 'close() signals the pending roll-ups')
  r.detector.close()
  t.equal(r.signals.length, 4, 'close() is idempotent')
  t.match(await r.metrics.registry.metrics(), /mcp_hangar_behavior_deviations_total\{provider="p",class="new_destination"\} 9/, 'the metric counts every occurrence')
})

t.test('per-class budget: a flood of new keys costs max_signals_per_cooldown signals and one class roll-up', async (t) => {
  const r = mature({ config: { max_signals_per_cooldown: 20, disabled: ['dns_shape'] } })
  for (let i = 0; i < 500; i++) r.tee.dnsQuery(`x${i}.flood.example.net`, 'A', 'allowed')
  t.equal(r.of('new_dns_name').length, 20, '500 never-seen names: 20 signals')
  r.clock.now += 11 * MINUTE
  r.detector.sweep()
  const rolled = r.of('new_dns_name').filter((s) => details(s).rollup)
  t.equal(rolled.length, 1)
  t.match(details(rolled[0]!), { key: '*', keys: 480, suppressed: 480 })
  t.same(r.of('dns_shape'), [], 'a disabled class is not checked')
})

t.test('enforcement modes: alert and block signal only (alerted); quarantine quarantines for quarantine_on classes', async (t) => {
  const evil = { host: 'evil.attacker.test', port: 443, protocol: 'tunnel' as const, via: 'connect' as const, action: 'allowed' as const }
  for (const mode of ['alert', 'block'] as const) {
    const r = mature({ mode })
    r.tee.egress(evil)
    t.match(r.signals[0], { action: 'alerted', enforcement_mode: mode }, `${mode}: alerted`)
    t.same(r.quarantines, [], `${mode}: no quarantine (the detector never blocks a permitted decision)`)
  }
  const q = mature({ mode: 'quarantine' })
  q.tee.toolCalled('exec_shell', false, {}, IDENTITY)
  t.match(q.of('new_tool')[0], { action: 'alerted', enforcement_mode: 'quarantine' }, 'new_tool is not in quarantine_on by default: alerted')
  t.same(q.quarantines, [])
  q.tee.egress(evil)
  t.match(q.of('new_destination')[0], { action: 'quarantined' })
  t.equal(q.quarantines.length, 1)
  t.match(q.quarantines[0], /behavior deviation \(new_destination\): egress to evil\.attacker\.test:443/)
  const custom = mature({ mode: 'quarantine', config: { quarantine_on: ['new_tool'] } })
  custom.tee.toolCalled('exec_shell', false, {}, IDENTITY)
  custom.tee.egress(evil)
  t.same([custom.of('new_tool')[0]!.action, custom.of('new_destination')[0]!.action], ['quarantined', 'alerted'], 'quarantine_on is per class')
})

t.test('a baseline that cannot be read: logged, nothing compared, nothing thrown on the data path', async (t) => {
  const clock = clockAt(EPOCH + 100 * HOUR)
  const rig = detectorRig(() => ({ schema: 'nope' }), clock)
  t.doesNotThrow(() => rig.detector.egress({ host: 'x.test', port: 1, protocol: 'tcp', via: 'connect', action: 'allowed' }))
  t.equal(rig.detector.mature, false)
  t.same(rig.signals, [])
})
