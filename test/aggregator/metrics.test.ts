// aggregator/metrics.ts: the aggregator's own registry, prefix mcp_hangar_aggregator_, with the
// default process collectors; each call gives an independent registry.
import t from 'tap'
import { createAggregatorMetrics } from '../../aggregator/metrics.js'

t.test('every metric is registered under the prefix, with the process collectors', async (t) => {
  const m = createAggregatorMetrics()
  m.batches.inc({ outcome: 'accepted' })
  m.signals.inc({ outcome: 'duplicate' }, 3)
  m.heartbeats.inc({ outcome: 'accepted' })
  m.streams.inc()
  m.policyPolls.set(2)
  m.providers.set({ state: 'ready' }, 4)
  m.quarantines.inc({ by: 'api' })
  m.auditRefusals.inc({ reason: 'budget' })
  m.auditReleased.inc({ reason: 'expired' }, 7)
  const text = await m.registry.metrics()
  for (const line of [
    'mcp_hangar_aggregator_signal_batches_total{outcome="accepted"} 1',
    'mcp_hangar_aggregator_signals_total{outcome="duplicate"} 3',
    'mcp_hangar_aggregator_heartbeats_total{outcome="accepted"} 1',
    'mcp_hangar_aggregator_signal_streams 1',
    'mcp_hangar_aggregator_policy_polls 2',
    'mcp_hangar_aggregator_providers{state="ready"} 4',
    'mcp_hangar_aggregator_quarantines_total{by="api"} 1',
    'mcp_hangar_aggregator_audit_refusals_total{reason="budget"} 1',
    'mcp_hangar_aggregator_audit_released_total{reason="expired"} 7',
  ]) t.ok(text.split('\n').includes(line), line)
  t.match(text, /^mcp_hangar_aggregator_process_cpu_user_seconds_total /m, 'process collector under the prefix')
  const names = (await m.registry.getMetricsAsJSON()).map((x) => x.name)
  // The one exception: the product-wide name of a configured enterprise feature that is off.
  t.same(names.filter((n) => !n.startsWith('mcp_hangar_aggregator_')), ['mcp_hangar_enterprise_feature_disabled'], 'nothing else outside the prefix')
})

t.test('two instances do not share counters (no global registry)', async (t) => {
  const a = createAggregatorMetrics()
  const b = createAggregatorMetrics()
  a.batches.inc({ outcome: 'accepted' })
  t.equal((await b.batches.get()).values.length, 0)
  t.equal((await a.batches.get()).values[0]?.value, 1)
})

t.test('a label outside the declared names is refused', async (t) => {
  const m = createAggregatorMetrics()
  t.throws(() => m.batches.inc({ reason: 'x' } as never))
})
