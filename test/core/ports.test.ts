import t from 'tap'
import { createPortRegistry, NOOP_COMPLIANCE, ports } from '../../core/ports.js'

t.test('a new registry has every port at its no-op default, and says why enterprise is off', async (t) => {
  const r = createPortRegistry()
  t.equal(r.compliance, NOOP_COMPLIANCE)
  t.equal(r.enterprise, false)
  t.same(r.license, { mode: 'unlicensed', features: [], reason: 'no license key found, using defaults' })
  t.not(createPortRegistry(), r, 'each call gives its own registry')
  t.equal(ports.enterprise, false, 'the process registry starts empty too')
})

t.test('the no-op compliance export: starts and stops, no sinks, a sample names the missing module', async (t) => {
  await NOOP_COMPLIANCE.start({ dataDir: '/nonexistent', config: {}, log: undefined as never, registry: undefined, subscribe: () => () => {}, lastSeq: () => 0 })
  t.same(NOOP_COMPLIANCE.status(), [])
  await t.rejects(NOOP_COMPLIANCE.sendSample('soc'), /no export sink "soc": SIEM export is an enterprise module, and it is not loaded/)
  await NOOP_COMPLIANCE.stop()
  t.ok(Object.isFrozen(NOOP_COMPLIANCE))
})
