/**
 * The transparent :80 listener: requests are routed by Host (the provider reached us through DNS
 * steering), to the listener's logical port; a request without a usable Host is denied with a
 * `missing_host` signal; a Host outside the allowlist gets 403 with the decision header.
 */
import t from 'tap'
import { TransparentHttpListener } from '../../../egress/transparent/http.js'
import { makeEgressContext } from '../../helpers/egress-context.js'
import { close, rawExchange, recordingHttpServer } from '../../helpers/net.js'

async function rig(t: { teardown(fn: () => unknown): void }) {
  const up = await recordingHttpServer('web')
  t.teardown(() => close(up.server))
  const e = makeEgressContext({
    capabilities: { network: { loopback_allowed: true, egress: [{ host: 'web.test', port: up.port, protocol: 'http' }, { host: 'tls-only.test', port: up.port, protocol: 'https' }] } },
    dns: { 'web.test': ['127.0.0.1'], 'other.test': ['127.0.0.1'], 'tls-only.test': ['127.0.0.1'] },
  })
  // The logical port is the upstream port: what the provider dialled before steering sent it here.
  const l = new TransparentHttpListener(e.connector, up.port)
  const port = await l.listen('127.0.0.1', 0)
  t.teardown(() => l.close())
  return { up, e, port }
}

t.test('routed by Host to the logical port; path, method and body preserved; Host normalised', async (t) => {
  const { up, e, port } = await rig(t)
  const a = await rawExchange(port, 'PUT /a/b?c=d HTTP/1.1\r\nHost: WEB.test.\r\nContent-Length: 3\r\nConnection: close\r\n\r\nxyz')
  t.equal(a.status, 200)
  t.equal(a.body, 'hello from web')
  t.equal(up.requests[0]!.method, 'PUT')
  t.equal(up.requests[0]!.url, '/a/b?c=d')
  t.equal(up.requests[0]!.headers.host, `web.test:${up.port}`)
  t.equal(up.requests[0]!.body, 'xyz')
  t.equal(e.of('egress_allowed')[0]!.details?.via, 'transparent_http')
})

t.test('keep-alive: each request on one client connection is decided on its own', async (t) => {
  const { up, e, port } = await rig(t)
  const a = await rawExchange(port, 'GET /1 HTTP/1.1\r\nHost: web.test\r\n\r\n')
  t.equal(a.status, 200)
  a.socket.write('GET /2 HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n')
  const second = await new Promise<string>((resolve) => {
    let b = ''
    a.socket.on('data', (d: Buffer) => (b += d.toString()))
    a.socket.on('close', () => resolve(b))
  })
  t.match(second, /^HTTP\/1\.1 403/, 'the second Host on the same connection is denied')
  t.match(second, /X-Hangar-Decision: denied; rule=default-deny; reason=no_matching_rule/i)
  t.equal(up.requests.length, 1)
  t.equal(e.of('egress_denied').length, 1)
})

t.test('no Host, an empty Host, or a malformed Host → 400 and one missing_host denial each', async (t) => {
  const { up, e, port } = await rig(t)
  const cases = ['GET / HTTP/1.0\r\n\r\n', 'GET / HTTP/1.1\r\nHost: \r\n\r\n', 'GET / HTTP/1.1\r\nHost: web.test:abc\r\n\r\n']
  for (const c of cases) {
    const a = await rawExchange(port, c)
    t.equal(a.status, 400, JSON.stringify(c))
    a.socket.destroy()
  }
  const denied = e.of('egress_denied')
  t.equal(denied.length, 3)
  for (const d of denied) t.equal(d.details?.code, 'missing_host')
  t.equal(up.requests.length, 0)
})

t.test('an https-only rule does not admit plain HTTP on :80; IP-literal and non-canonical Hosts are denied', async (t) => {
  const { up, port } = await rig(t)
  const cases: Array<[string, RegExp]> = [
    ['tls-only.test', /reason=protocol_not_allowed/],
    ['127.0.0.1', /reason=no_matching_rule/],
    ['0x7f.1', /reason=malformed_host/],
    ['169.254.169.254', /rule=always-denied:metadata/],
  ]
  for (const [host, want] of cases) {
    const a = await rawExchange(port, `GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`)
    t.equal(a.status, 403, host)
    t.match(a.headers['x-hangar-decision'], want, host)
    a.socket.destroy()
  }
  t.equal(up.requests.length, 0)
})
