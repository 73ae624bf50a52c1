/** sidecar/provider-env.ts: when the provider gets the proxy environment, and which address it names. */
import t from 'tap'
import { providerSchema } from '../../config/schema.js'
import { proxyAddress, withProxyEnv } from '../../sidecar/provider-env.js'

const sub = (sidecar: Record<string, unknown> = {}, env: Record<string, string> = {}) =>
  providerSchema.parse({ mode: 'subprocess', command: ['x'], env, sidecar: { proxy: '127.0.0.1:3128', ...sidecar } })

t.test('proxyAddress: the configured host, a wildcard replaced by sidecar.address (default 10.254.1.1)', async (t) => {
  t.equal(proxyAddress(sub()), '127.0.0.1:3128')
  t.equal(proxyAddress(sub({ proxy: '10.254.1.1:3128' })), '10.254.1.1:3128')
  t.equal(proxyAddress(sub({ proxy: '0.0.0.0:3128', address: '10.254.1.1' })), '10.254.1.1:3128')
  t.equal(proxyAddress(sub({ proxy: '0.0.0.0:3128' })), '10.254.1.1:3128', 'the default sidecar.address')
  t.equal(proxyAddress(sub({ proxy: '[::]:3128', address: '10.254.1.1' })), '10.254.1.1:3128', 'the IPv6 wildcard')
})

t.test('under up, a subprocess provider whose egress the sidecar sees gets the proxy environment; its own env wins', async (t) => {
  const p = sub({}, { HTTPS_PROXY: 'http://mine:1' })
  const got = withProxyEnv(p, { isolation: 'cooperative', egress: true })
  t.equal(got.env.HTTP_PROXY, 'http://127.0.0.1:3128')
  t.equal(got.env.NO_PROXY, 'localhost,127.0.0.1,::1')
  t.equal(got.env.HTTPS_PROXY, 'http://mine:1', "the provider's own value is kept")
  t.notOk('HTTP_PROXY' in p.env, 'the configured provider is not changed')
})

t.test('no proxy environment outside up, without the egress listeners, or for another mode', async (t) => {
  const p = sub()
  t.equal(withProxyEnv(p, { isolation: undefined, egress: true }), p, 'not under up')
  t.equal(withProxyEnv(p, { isolation: 'netns', egress: false }), p, 'no egress listeners')
  const remote = providerSchema.parse({ mode: 'remote', endpoint: 'http://127.0.0.1:1/mcp' })
  t.equal(withProxyEnv(remote, { isolation: 'netns', egress: true }), remote, 'a remote provider')
})
