/** sidecar/policy-actions.ts: what a policy version from the aggregator means to the sidecar. */
import t from 'tap'
import type { ProviderPolicy } from '../../aggregator/policy.js'
import { policyActions } from '../../sidecar/policy-actions.js'

const pol = (version: number, o: Partial<ProviderPolicy> = {}): ProviderPolicy => ({ provider: 'p', version, quarantined: false, approvals: 0, ...o })

t.test('a quarantined policy quarantines, with its reason or a default', async (t) => {
  t.same(policyActions(undefined, pol(1, { quarantined: true, reason: 'exfil' })), { quarantine: 'exfil' })
  t.same(policyActions(pol(1), pol(2, { quarantined: true })), { quarantine: 'quarantined by the aggregator' })
})

t.test('only a newer version counts', async (t) => {
  t.same(policyActions(pol(3), pol(3, { quarantined: true })), {}, 'the same version: nothing')
  t.same(policyActions(pol(3), pol(2, { quarantined: true })), {}, 'an older one: nothing')
  t.same(policyActions(pol(3), pol(4, { quarantined: true })), { quarantine: 'quarantined by the aggregator' }, 'control: a newer one acts')
})

t.test('more approvals approve; a merely unquarantined policy does not lift a quarantine', async (t) => {
  t.same(policyActions(pol(1, { approvals: 1 }), pol(2, { approvals: 2, reason: 'reviewed' })), { approve: 'reviewed' })
  t.same(policyActions(pol(1, { approvals: 1 }), pol(2, { approvals: 2 })), { approve: 'approved by the aggregator' })
  t.same(policyActions(pol(1, { quarantined: true }), pol(2, { quarantined: false })), {}, 'unquarantined without an approval: nothing')
})

t.test('the first policy sets the baseline: approvals given before the sidecar started clear nothing', async (t) => {
  t.same(policyActions(undefined, pol(5, { approvals: 3 })), {})
})
