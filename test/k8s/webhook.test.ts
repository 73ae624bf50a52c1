// k8s/webhook.ts as a real HTTPS server on 127.0.0.1 with a CA and a serving certificate made by
// the openssl CLI (SAN mcp-hangar-injector.mcp-hangar.svc); every client checks the certificate
// against the CA and that name. A real pod is patched (the patch applied gives a valid Pod); a pod
// that cannot be isolated is refused with the reason; malformed JSON, JSON that is not an
// AdmissionReview, other kinds, wrong methods, routes and media types; a 5 MB body (413, connection
// closed); clients that do not trust the CA or expect another name (control: the right CA and name
// succeed); plain HTTP on the TLS port; slow handshakes, heads and bodies cut off; a failure inside
// the webhook answered; certificate rotation without restart; metrics; after each, /healthz answers.
import t, { type Test } from 'tap'
import { request } from 'node:https'
import { connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import jsonPatch, { type Operation } from 'fast-json-patch'
import { Pod } from 'kubernetes-models/v1'
import { makeTestPki } from '../helpers/tls.js'
import { captureLog } from '../fixtures/aggregator/signals.js'
import { startWebhook, type Webhook } from '../../k8s/webhook.js'
import { ANNOTATION, SIDECAR_CONTAINER } from '../../k8s/inject.js'

type Obj = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

t.setTimeout(120_000)
const NAME = 'mcp-hangar-injector.mcp-hangar.svc'
const pki = makeTestPki([NAME])
const other = makeTestPki([NAME])
const dir = mkdtempSync(join(tmpdir(), 'hangar-webhook-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const certFile = join(dir, 'tls.crt')
const keyFile = join(dir, 'tls.key')
writeFileSync(certFile, pki.cert)
writeFileSync(keyFile, pki.key)
const inject = { sidecarImage: 'mcp-hangar/sidecar:test', aggregatorUrl: 'http://agg.mcp-hangar.svc:8000' }
const { log, lines } = captureLog()

let wh: Webhook
t.before(async () => {
  wh = await startWebhook({ certFile, keyFile, host: '127.0.0.1', port: 0, inject, log, reloadIntervalMs: 200, handshakeTimeoutMs: 1000, headersTimeoutMs: 1000, requestTimeoutMs: 2000, checkIntervalMs: 200 })
})
t.teardown(() => wh.close(1000))

interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
  /** Resolves when the connection closes. */
  closed: Promise<void>
}

function call(opts: { method?: string; path?: string; body?: string | Buffer; headers?: Record<string, string | number>; ca?: string; servername?: string; port?: number } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port: opts.port ?? wh.port, method: opts.method ?? 'GET', path: opts.path ?? '/healthz', agent: false,
      ca: opts.ca ?? pki.ca, servername: opts.servername ?? NAME,
      headers: { ...(opts.body !== undefined && { 'content-type': 'application/json', 'content-length': Buffer.byteLength(opts.body) }), ...opts.headers },
    }, (res) => {
      const closed = new Promise<void>((r) => res.socket.once('close', () => r()))
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => (text += d))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text, closed }))
    })
    req.on('error', reject)
    req.end(opts.body)
  })
}

const healthy = async (t: Test, why: string) => {
  const r = await call()
  t.equal(r.status, 200, `/healthz answers after ${why}`)
  t.equal(r.text, 'ok')
}

const POD = { group: '', version: 'v1', kind: 'Pod' }
const PODS = { group: '', version: 'v1', resource: 'pods' }
const pod = (spec: Obj = {}): Obj => ({
  apiVersion: 'v1', kind: 'Pod',
  metadata: { generateName: 'fetch-5c9d-', labels: { 'pod-template-hash': '5c9d' }, annotations: { [ANNOTATION.inject]: 'true', [ANNOTATION.profile]: 'fetch' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'fetch-5c9d', uid: 'x', controller: true }] },
  spec: { containers: [{ name: 'server', image: 'example/fetch:1', ports: [{ containerPort: 3000 }] }], ...spec },
})
const review = (object: unknown, req: Obj = {}) => JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'e2b5-1', kind: POD, resource: PODS, namespace: 'tools', operation: 'CREATE', userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' }, object, ...req } })
const mutate = (body: string | Buffer, headers?: Record<string, string | number>) => call({ method: 'POST', path: '/mutate', body, ...(headers && { headers }) })

t.test('trust: a client with the CA and the service name succeeds; another CA or another name fails the handshake on the client; the server stays up', async (t) => {
  await healthy(t, 'start (control: the CA and the SAN are accepted)')
  await t.rejects(call({ ca: other.ca }), { code: /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER/ }, 'a CA that did not sign the certificate: refused by the client')
  await t.rejects(call({ servername: 'mcp-hangar-injector.other.svc' }), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }, 'another service name: refused by the client')
  await healthy(t, 'untrusted clients')
})

t.test('a real pod: the patch, applied, gives the sidecar and a valid Pod', async (t) => {
  const p = pod()
  const r = await mutate(review(p))
  t.equal(r.status, 200)
  t.match(r.headers['content-type'], /^application\/json/)
  const body = JSON.parse(r.text) as Obj
  t.match(body, { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'e2b5-1', allowed: true, patchType: 'JSONPatch' } })
  const ops = JSON.parse(Buffer.from(body.response.patch as string, 'base64').toString('utf8')) as Operation[]
  const patched = jsonPatch.applyPatch(structuredClone(p), ops, true, false).newDocument
  t.ok((patched.spec.initContainers as Obj[]).some((c) => c.name === SIDECAR_CONTAINER))
  t.match(patched.metadata.annotations, { [ANNOTATION.injected]: /^[0-9a-f]{16}$/ })
  t.doesNotThrow(() => new Pod(patched as never).validate())
  const again = JSON.parse((await mutate(review(patched))).text) as Obj
  t.strictSame(again.response, { uid: 'e2b5-1', allowed: true }, 'the injected pod, reviewed again, gets no patch')
  const query = await call({ method: 'POST', path: '/mutate?timeout=10s', body: review(p) })
  t.strictSame(JSON.parse(query.text), body, 'the API server\'s ?timeout= query is accepted')
  await healthy(t, 'a patch')
})

t.test('a pod that cannot be isolated (hostNetwork): allowed false, 403, the reason', async (t) => {
  const r = await mutate(review(pod({ hostNetwork: true })))
  t.equal(r.status, 200)
  t.match(JSON.parse(r.text), { response: { uid: 'e2b5-1', allowed: false, status: { code: 403, message: /spec\.hostNetwork: the pod would use the node's network namespace/ } } })
  await healthy(t, 'a refusal')
})

t.test('malformed JSON, and JSON that is not an AdmissionReview: 200 with a review refusing 400', async (t) => {
  for (const [body, message] of [
    ['{"apiVersion": "admission.k8s.io/v1", "kind": ', /the body is not JSON/],
    ['', /the body is not JSON/],
    ['\u0000\u00ff', /the body is not JSON/],
    ['{"hello": "world"}', /apiVersion: expected "admission.k8s.io\/v1"/],
    ['[1,2,3]', /expected an AdmissionReview object, got an array/],
    ['42', /got number/],
    [JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { kind: POD } }), /request\.uid: is required/],
  ] as Array<[string, RegExp]>) {
    const r = await mutate(body)
    t.equal(r.status, 200, JSON.stringify(body))
    t.match(JSON.parse(r.text), { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: '', allowed: false, status: { code: 400, message } } })
  }
  await healthy(t, 'bad reviews')
})

t.test('other kinds (a Service, a ConfigMap) and a pod UPDATE pass unchanged', async (t) => {
  const service = { kind: { group: '', version: 'v1', kind: 'Service' }, resource: { group: '', version: 'v1', resource: 'services' }, object: { apiVersion: 'v1', kind: 'Service', metadata: { name: 's', annotations: { [ANNOTATION.inject]: 'true' } }, spec: { ports: [{ port: 80 }] } } }
  const configMap = { kind: { group: '', version: 'v1', kind: 'ConfigMap' }, resource: { group: '', version: 'v1', resource: 'configmaps' }, object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { a: 'b' } } }
  for (const [name, req] of [['Service', service], ['ConfigMap', configMap], ['pod UPDATE', { operation: 'UPDATE', oldObject: pod() }]] as Array<[string, Obj]>) {
    const r = await mutate(review(pod(), req))
    t.strictSame(JSON.parse(r.text).response, { uid: 'e2b5-1', allowed: true }, name)
  }
  await healthy(t, 'other kinds')
})

t.test('routes, methods and media types: 404, 405, 415', async (t) => {
  t.equal((await call({ path: '/' })).status, 404)
  t.equal((await call({ path: '/mutate/../admin' })).status, 404)
  const get = await call({ path: '/mutate' })
  t.equal(get.status, 405)
  t.equal(get.headers.allow, 'POST')
  t.equal((await call({ method: 'POST', path: '/healthz', body: '{}' })).status, 405)
  const text = await mutate(review(pod()), { 'content-type': 'text/plain' })
  t.equal(text.status, 415)
  t.notMatch(text.text, /AdmissionReview/)
  t.equal((await mutate(review(pod()), { 'content-encoding': 'gzip' })).status, 415)
  t.equal((await mutate(review(pod()), { 'content-type': 'application/json; charset=utf-8' })).status, 200, 'control: a charset of UTF-8 is fine')
  await healthy(t, 'wrong routes')
})

t.test('a 5 MB body: 413 with a plain JSON error, the connection closed; declared or streamed; the server stays up', async (t) => {
  const big = Buffer.alloc(5 * 1024 * 1024, 0x20)
  const declared = await mutate(big)
  t.equal(declared.status, 413)
  const err = JSON.parse(declared.text) as Obj
  t.match(err, { error: { code: 'body_too_large', message: /must not exceed 3145728 bytes/ } })
  t.notOk('apiVersion' in err || 'response' in err, 'no AdmissionReview')
  await t.resolves(Promise.race([declared.closed, new Promise((_, rej) => setTimeout(() => rej(new Error('still open')), 5000))]), 'connection closed')
  // chunked: no Content-Length, the limit is found while reading
  const streamed = await new Promise<Answer>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: wh.port, method: 'POST', path: '/mutate', agent: false, ca: pki.ca, servername: NAME, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = ''
      const closed = new Promise<void>((r) => res.socket.once('close', () => r()))
      res.on('data', (d: Buffer) => (text += String(d)))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text, closed }))
    })
    req.on('error', reject)
    for (let i = 0; i < 5; i++) req.write(Buffer.alloc(1024 * 1024, 0x20))
    req.end()
  })
  t.equal(streamed.status, 413)
  await t.resolves(Promise.race([streamed.closed, new Promise((_, rej) => setTimeout(() => rej(new Error('still open')), 5000))]), 'connection closed')
  const fits = await mutate(Buffer.concat([Buffer.from(review(pod())), Buffer.alloc(2 * 1024 * 1024, 0x20)]))
  t.equal(JSON.parse(fits.text).response.allowed, true, 'control: a 2 MB review (trailing spaces) is read and answered')
  await healthy(t, 'large bodies')
})

t.test('plain HTTP on the TLS port: no HTTP answer, the connection closed, the server stays up', async (t) => {
  const got = await new Promise<string>((resolve) => {
    const s = netConnect(wh.port, '127.0.0.1', () => s.write('POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}'))
    let data = ''
    s.on('data', (d: Buffer) => (data += d.toString('latin1')))
    s.on('error', () => {})
    s.on('close', () => resolve(data))
    setTimeout(() => s.destroy(), 5000)
  })
  t.notMatch(got, /^HTTP\/1\.1 200/, 'no HTTP answer in clear text')
  await healthy(t, 'plain HTTP')
})

/** Opens a connection, runs `send`, resolves with the time until the server closed it (ms). */
function timeToClose(open: () => Socket, send: (s: Socket) => void, capMs = 10_000): Promise<{ ms: number; data: string }> {
  return new Promise((resolve, reject) => {
    const started = Date.now()
    const s = open()
    let data = ''
    s.on('data', (d: Buffer) => (data += d.toString('latin1')))
    s.on('error', () => {})
    s.once('close', () => {
      clearTimeout(cap)
      resolve({ ms: Date.now() - started, data })
    })
    const cap = setTimeout(() => {
      s.destroy()
      reject(new Error(`not closed within ${capMs} ms`))
    }, capMs)
    send(s)
  })
}

t.test('slow clients are cut off: handshake, request head (slowloris), body; control: a whole request is answered on the same kind of connection', async (t) => {
  const handshake = await timeToClose(() => netConnect(wh.port, '127.0.0.1'), () => {})
  t.ok(handshake.ms < 4000, `a TCP connection that never starts TLS is closed after ${handshake.ms} ms (deadline 1000)`)
  const tls = () => tlsConnect({ host: '127.0.0.1', port: wh.port, ca: pki.ca, servername: NAME })
  const head = await timeToClose(tls, (s) => s.once('secureConnect', () => {
    s.write('POST /mutate HTTP/1.1\r\nHost: x\r\n')
    const drip = setInterval(() => s.writable && s.write('X-Slow: 1\r\n'), 300)
    s.once('close', () => clearInterval(drip))
  }))
  t.ok(head.ms < 5000, `headers that never finish (one line every 300 ms) are cut off after ${head.ms} ms (deadline 1000)`)
  t.notMatch(head.data, /^HTTP\/1\.1 200/)
  const body = await timeToClose(tls, (s) => s.once('secureConnect', () => s.write('POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"apiVersion"')))
  t.ok(body.ms < 6000, `a body that never finishes is cut off after ${body.ms} ms (deadline 2000)`)
  const control = await timeToClose(tls, (s) => s.once('secureConnect', () => s.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')))
  t.match(control.data, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nok$/, 'control: a complete request on a raw TLS connection is answered')
  await healthy(t, 'slow clients')
})

t.test('a failure inside the webhook is caught, logged and answered (allowed false, 500); the server stays up', async (t) => {
  const broken = { sidecarImage: 'x', get aggregatorUrl(): string { throw new Error('boom in the injection') } }
  const { log: log2, lines: lines2 } = captureLog()
  const w = await startWebhook({ certFile, keyFile, host: '127.0.0.1', port: 0, inject: broken, log: log2 })
  t.teardown(() => w.close(500))
  const r = await call({ method: 'POST', path: '/mutate', body: review(pod()), port: w.port })
  t.equal(r.status, 200)
  t.match(JSON.parse(r.text), { response: { uid: 'e2b5-1', allowed: false, status: { code: 500, message: /internal error/ } } }, 'the pod refused, with the request\'s uid')
  t.ok(lines2.some((l) => l.level === 50 && /boom in the injection/.test(String(l.err)) && l.uid === 'e2b5-1'), 'logged with the cause')
  t.match(await w.metrics.registry.metrics(), /^mcp_hangar_admission_reviews_total\{result="bad_request"\} 1$/m, 'counted as bad_request')
  t.equal((await call({ port: w.port })).status, 200, '/healthz still answers')
  const unchanged = await call({ method: 'POST', path: '/mutate', body: review(pod(), { kind: { group: '', version: 'v1', kind: 'Service' } }), port: w.port })
  t.strictSame(JSON.parse(unchanged.text).response, { uid: 'e2b5-1', allowed: true }, 'control: a review that does not reach the injection is answered normally')
})

t.test('certificate rotation: new files are served without a restart; a broken pair is refused and the old one kept', async (t) => {
  writeFileSync(certFile, other.cert)
  writeFileSync(keyFile, pki.key)
  await new Promise((r) => setTimeout(r, 600))
  t.ok(lines.some((l) => /not reloaded/.test(String(l.msg)) && /not a usable certificate and key pair/.test(String(l.err))), 'a mismatched pair is logged')
  await healthy(t, 'a broken pair (the old certificate stays)')
  writeFileSync(keyFile, other.key)
  const deadline = Date.now() + 5000
  let rotated = false
  while (!rotated && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100))
    rotated = await call({ ca: other.ca }).then((r) => r.status === 200, () => false)
  }
  t.ok(rotated, 'the new certificate is served (the new CA accepted)')
  await t.rejects(call({ ca: pki.ca }), { code: /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER/ }, 'the old CA no longer verifies it')
  t.equal(wh.reloadCertificate(), false, 'unchanged files: nothing to install')
  writeFileSync(certFile, pki.cert)
  writeFileSync(keyFile, pki.key)
  t.equal(wh.reloadCertificate(), true, 'reloaded on demand as well')
  await healthy(t, 'rotation back')
})

t.test('metrics: reviews counted by result', async (t) => {
  const r = await call({ path: '/metrics' })
  t.equal(r.status, 200)
  t.match(r.headers['content-type'], /^text\/plain/)
  const v = (result: string) => Number(new RegExp(`^mcp_hangar_admission_reviews_total\\{result="${result}"\\} (\\d+)$`, 'm').exec(r.text)?.[1])
  t.ok(v('patched') >= 3, `patched ${v('patched')}`)
  t.ok(v('unchanged') >= 4, `unchanged ${v('unchanged')}`)
  t.ok(v('denied') >= 1, `denied ${v('denied')}`)
  t.ok(v('bad_request') >= 9, `bad_request ${v('bad_request')}`)
  t.match(r.text, /^mcp_hangar_process_resident_memory_bytes \d+/m)
})

t.test('bounded: reviews in progress beyond the limit get 503 at once, connections beyond the limit are closed at accept; both recover', async (t) => {
  const w = await startWebhook({ certFile, keyFile, host: '127.0.0.1', port: 0, inject, log, maxConcurrentReviews: 2, maxConnections: 4, handshakeTimeoutMs: 20_000 })
  t.teardown(() => w.close(500))
  const text = review(pod())
  // two reviews whose bodies are still arriving hold both places
  const slow = [0, 1].map(() => new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: w.port, method: 'POST', path: '/mutate', agent: false, ca: pki.ca, servername: NAME, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } }, (res) => {
      let body = ''
      res.on('data', (d: Buffer) => (body += String(d)))
      res.on('end', () => resolve({ status: res.statusCode!, text: body }))
    })
    req.on('error', reject)
    req.write(text.slice(0, 10))
    setTimeout(() => req.end(text.slice(10)), 1500)
  }))
  await new Promise((r) => setTimeout(r, 500))
  const third = await call({ method: 'POST', path: '/mutate', body: text, port: w.port })
  t.equal(third.status, 503, 'a third review while two are read: 503')
  t.equal(third.headers['retry-after'], '1')
  t.equal((await call({ port: w.port })).status, 200, '/healthz is not limited by reviews')
  for (const r of await Promise.all(slow)) t.equal(JSON.parse(r.text).response.allowed, true, 'the slow reviews are answered once their bodies arrive')
  t.equal(JSON.parse((await call({ method: 'POST', path: '/mutate', body: text, port: w.port })).text).response.allowed, true, 'then a new review is answered')
  t.match(await w.metrics.registry.metrics(), /^mcp_hangar_admission_reviews_total\{result="overloaded"\} 1$/m)
  // connections: four idle TCP sockets fill the server; the fifth is closed at accept
  const idle = await Promise.all([0, 1, 2, 3].map(() => new Promise<Socket>((resolve) => {
    const s = netConnect(w.port, '127.0.0.1', () => resolve(s))
    s.on('error', () => {})
  })))
  await new Promise((r) => setTimeout(r, 200))
  const fifth = await timeToClose(() => netConnect(w.port, '127.0.0.1'), () => {})
  t.ok(fifth.ms < 1000, `a connection beyond maxConnections is closed at once (${fifth.ms} ms; the handshake deadline is 20 s)`)
  for (const s of idle) s.destroy()
  await new Promise((r) => setTimeout(r, 200))
  t.equal((await call({ port: w.port })).status, 200, 'after they close, new connections are served')
})

t.test('close: the port is released', async (t) => {
  const w = await startWebhook({ certFile, keyFile, host: '127.0.0.1', port: 0, inject, log })
  t.equal((await call({ port: w.port })).status, 200)
  await w.close(500)
  await t.rejects(call({ port: w.port }), { code: 'ECONNREFUSED' })
})

