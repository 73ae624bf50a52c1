/**
 * proxyEnv (core/proxy-env.ts): the proxy environment an isolated provider gets: both spellings
 * of HTTP(S)_PROXY to the sidecar's forward proxy, NO_PROXY for loopback only, NODE_USE_ENV_PROXY.
 */
import t from 'tap'
import { proxyEnv } from '../../core/proxy-env.js'

t.test('both spellings point at the sidecar; loopback only bypasses it', async (t) => {
  t.same(proxyEnv('10.254.1.1:3128'), {
    HTTP_PROXY: 'http://10.254.1.1:3128', HTTPS_PROXY: 'http://10.254.1.1:3128', http_proxy: 'http://10.254.1.1:3128', https_proxy: 'http://10.254.1.1:3128',
    NO_PROXY: 'localhost,127.0.0.1,::1', no_proxy: 'localhost,127.0.0.1,::1', NODE_USE_ENV_PROXY: '1',
  })
  const v6 = proxyEnv('[fd00::1]:3128')
  t.equal(v6.HTTPS_PROXY, 'http://[fd00::1]:3128', 'an IPv6 sidecar address keeps its brackets')
  t.same(v6.NO_PROXY!.split(','), ['localhost', '127.0.0.1', '::1'], 'only loopback bypasses the proxy, whatever the sidecar address')
  t.equal(new URL(v6.HTTP_PROXY!).host, '[fd00::1]:3128', 'a URL clients parse')
})
