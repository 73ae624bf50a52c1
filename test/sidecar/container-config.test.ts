/**
 * sidecar/container-config.ts: the configs generated for container sidecars and the aggregator load
 * through the real config loader (`-c env:HANGAR_CONFIG`), tokens from the environment, and bind the
 * egress listeners to the sidecar's internal address only.
 */
import t from 'tap'
import { stringify } from 'yaml'
import { loadConfig } from '../../config/load.js'
import { aggregatorConfig, CONFIG_ENV, containerListeners, containerProxy, CONTAINER_DATA_DIR, sidecarConfig } from '../../sidecar/container-config.js'
import { internalAddresses, parseIpv4Cidr } from '../../sidecar/subnet.js'

const net = internalAddresses(parseIpv4Cidr('10.253.9.0/28'))

t.test('a generated sidecar config loads, with the signal token from the environment', async (t) => {
  const text = stringify(sidecarConfig({ provider: 'fetch', endpoint: 'http://fetch:8080/mcp', ingressPort: 8101, net, aggregatorUrl: 'http://hangar-aggregator:8000', capabilities: { enforcement_mode: 'block' } }))
  const { config } = loadConfig(`env:${CONFIG_ENV}`, { [CONFIG_ENV]: text, HANGAR_SIGNAL_TOKEN: 'sig-1' })
  t.same(config.aggregator?.signal_tokens, ['sig-1'], 'the token comes from the environment, not the file')
  t.notMatch(text, /sig-1/, 'and is not in the generated text')
  const p = config.providers.fetch!
  t.equal(p.listen, '0.0.0.0:8101')
  t.equal(p.capabilities.enforcement_mode, 'block')
  t.match(p.sidecar, { proxy: '10.253.9.2:3128', dns: '10.253.9.2:53', transparent_http: '10.253.9.2:80', transparent_tls: '10.253.9.2:443', admin: '127.0.0.1:9901', address: '10.253.9.2', dns_mode: 'steering', data_dir: `${CONTAINER_DATA_DIR}/fetch` })
  t.equal(containerProxy(net.sidecar), '10.253.9.2:3128')
})

t.test('without the token in the environment the generated config fails closed, naming the variable', async (t) => {
  const text = stringify(sidecarConfig({ provider: 'fetch', endpoint: 'http://fetch:8080/mcp', ingressPort: 8101, net, aggregatorUrl: 'http://hangar-aggregator:8000' }))
  t.throws(() => loadConfig(`env:${CONFIG_ENV}`, { [CONFIG_ENV]: text }), /HANGAR_SIGNAL_TOKEN/)
})

t.test('no egress listener binds a wildcard address; admin stays on loopback', async (t) => {
  const l = containerListeners('10.253.9.2', 'p')
  for (const key of ['proxy', 'dns', 'transparent_http', 'transparent_tls']) t.match(l[key], /^10\.253\.9\.2:\d+$/, key)
  t.equal(l.admin, '127.0.0.1:9901')
})

t.test('the generated aggregator config loads, both token classes from the environment', async (t) => {
  const { config } = loadConfig(`env:${CONFIG_ENV}`, { [CONFIG_ENV]: stringify(aggregatorConfig()), HANGAR_SIGNAL_TOKEN: 's', HANGAR_ADMIN_TOKEN: 'a' })
  t.match(config.aggregator, { listen: '0.0.0.0:8000', data_dir: CONTAINER_DATA_DIR, signal_tokens: ['s'], admin_tokens: ['a'] })
})
