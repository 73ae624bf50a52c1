// enterprise/bootstrap.ts: register() sets the ports of the features the license names, and only
// those; it refuses to run without a license. (Loading it: test/cli/enterprise.test.ts.)
import t from 'tap'
import { createPortRegistry, type ComplianceExportPort, type LicenseState, type PortRegistry } from '../../core/ports.js'
import { register } from '../../enterprise/bootstrap.js'

const SENTINEL: ComplianceExportPort = { async start() {}, async stop() {}, status: () => [], async sendSample() { return { sink: 's', id: 'x' } } }

t.test('register(): only the licensed features; never without a license', async (t) => {
  const licensed = (features: string[]): LicenseState => ({ mode: 'licensed', licensee: 'A', expires: '2028-01-01T00:00:00Z', max_providers: 5, features })
  const fresh = (): PortRegistry => ({ ...createPortRegistry(), compliance: SENTINEL })
  const a = fresh()
  await register(a, licensed(['compliance_export']))
  t.not(a.compliance, SENTINEL, 'compliance_export: the enterprise compliance export is registered')
  t.equal(a.enterprise, true)
  const b = fresh()
  await register(b, licensed([]))
  t.equal(b.compliance, SENTINEL, 'no features: the compliance port untouched')
  t.equal(a.access, undefined, 'compliance_export alone: no access module')
  const c = fresh()
  await register(c, licensed(['rbac']))
  t.equal(c.compliance, SENTINEL, 'rbac: the compliance port untouched')
  t.equal(typeof c.access?.start, 'function', 'rbac: the access module is registered')
  t.equal(b.access, undefined, 'no features: no access module')
  const u = fresh()
  await register(u, licensed(['a_feature_this_release_does_not_know']))
  t.equal(u.compliance, SENTINEL, 'a feature this release does not know changes nothing')
  t.equal(u.access, undefined)
  t.equal(c.identity, undefined, 'no identity feature: no identity port')
  const i = fresh()
  await register(i, licensed(['identity']))
  t.equal(typeof i.identity?.createVerifier, 'function', 'identity: the OIDC verifier is registered')
  t.equal(i.compliance, SENTINEL, 'identity alone leaves the compliance port alone')
  t.equal(a.identity, undefined, 'compliance_export alone registers no identity port')
  const d = fresh()
  await t.rejects(register(d, { mode: 'unlicensed', features: ['compliance_export'], reason: 'x' }), /called without a license \(x\)/)
  t.equal(d.compliance, SENTINEL, 'unlicensed: untouched')
  t.equal(d.access, undefined)
  t.equal(d.enterprise, false)
})

t.test('register(): deviation_detection sets the deviation port, and only that feature does', async (t) => {
  const licensed = (features: string[]): LicenseState => ({ mode: 'licensed', licensee: 'A', expires: '2028-01-01T00:00:00Z', max_providers: 5, features })
  const a = createPortRegistry()
  await register(a, licensed(['deviation_detection']))
  t.type(a.deviation?.create, 'function', 'the deviation port is registered')
  const b = createPortRegistry()
  await register(b, licensed(['compliance_export']))
  t.equal(b.deviation, undefined, 'not licensed: absent')
})
