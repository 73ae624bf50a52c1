// The chart's generated secrets, under Helm 3 and Helm 4: the injector's CA and serving
// certificate come from one generation per render (the Secret, the webhook's caBundle and the
// Deployment's checksum agree), the CA signs the certificate, the certificate names exactly the
// Service's four DNS names and works in a real TLS handshake on loopback (and fails for another
// name or another render's CA); a supplied certificate replaces all of it; the aggregator's tokens
// are generated once per render (its copies in other namespaces carry the same signal token).
import t from 'tap'
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, request } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { HELM_MAJORS, only, renderChart, type K8sObject } from '../helpers/helm.js'
import { VALUE_SETS } from '../fixtures/charts/values.js'

const b64 = (s: string) => Buffer.from(s, 'base64').toString('utf8')
const DAY_MS = 86_400_000

/** The TLS material of one render: from the Secret, the webhook configuration and the Deployment. */
function tlsOf(docs: K8sObject[]) {
  const secret = only(docs, 'Secret', 'mcp-hangar-injector-tls')
  const webhook = only(docs, 'MutatingWebhookConfiguration').webhooks[0]
  const dep = only(docs, 'Deployment', 'mcp-hangar-injector')
  return {
    secret, dep,
    caBundle: webhook.clientConfig.caBundle as string,
    ca: new X509Certificate(b64(secret.data['ca.crt'])),
    cert: new X509Certificate(b64(secret.data['tls.crt'])),
    certPem: b64(secret.data['tls.crt']),
    keyPem: b64(secret.data['tls.key']),
  }
}

const sans = (ns: string) => [`mcp-hangar-injector`, `mcp-hangar-injector.${ns}`, `mcp-hangar-injector.${ns}.svc`, `mcp-hangar-injector.${ns}.svc.cluster.local`]

/** Whether a TLS client trusting `caPem` and asking for `servername` completes a request to the server. */
function handshake(port: number, caPem: string, servername: string): Promise<'ok' | string> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/healthz', ca: caPem, servername, timeout: 5000 }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode === 200 ? 'ok' : `status ${res.statusCode}`))
    })
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message))
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.end()
  })
}

for (const major of HELM_MAJORS) {
  t.test(`helm ${major}: one generated CA and certificate, shared by the Secret, the webhook and the Deployment`, async (t) => {
    const docs = await renderChart(major)
    const x = tlsOf(docs)
    t.equal(x.secret.type, 'kubernetes.io/tls')
    t.same(Object.keys(x.secret.data).sort(), ['ca.crt', 'tls.crt', 'tls.key'])
    t.equal(x.caBundle, x.secret.data['ca.crt'], 'caBundle is the Secret\'s CA')
    t.ok(x.ca.ca, 'the CA is a CA')
    t.notOk(x.cert.ca, 'the serving certificate is not')
    t.ok(x.cert.verify(x.ca.publicKey), 'the caBundle signs the serving certificate')
    t.ok(x.cert.checkIssued(x.ca), 'issuer and subject chain')
    t.ok(x.cert.checkPrivateKey(createPrivateKey(x.keyPem)), 'the key is the certificate\'s')
    t.same((x.cert.subjectAltName ?? '').split(', ').map((s) => s.replace(/^DNS:/, '')).sort(), sans('mcp-hangar').sort(), 'SANs: the four names of the Service')
    t.match(x.cert.subject, /CN=mcp-hangar-injector\.mcp-hangar\.svc/)
    t.ok(x.cert.keyUsage?.includes('1.3.6.1.5.5.7.3.1'), 'extended key usage serverAuth')
    const days = (Date.parse(x.cert.validTo) - Date.now()) / DAY_MS
    t.ok(days > 3640 && days <= 3651, `valid about 3650 days (${days.toFixed(1)})`)
    t.equal(x.dep.spec.template.metadata.annotations['checksum/tls'], createHash('sha256').update(x.caBundle + x.secret.data['tls.crt']).digest('hex'), 'the Deployment\'s checksum is of the same CA and certificate')
    const vol = x.dep.spec.template.spec.volumes.find((v: K8sObject) => v.name === 'tls')
    t.same(vol.secret, { secretName: 'mcp-hangar-injector-tls', defaultMode: 0o440, items: [{ key: 'tls.crt', path: 'tls.crt' }, { key: 'tls.key', path: 'tls.key' }] }, 'the key is group-readable for fsGroup 65532, not world-readable, and the CA is not mounted')
    t.equal(x.dep.spec.template.spec.securityContext.fsGroup, 65532)

    // Control: another render is another CA, which does not sign this certificate.
    const y = tlsOf(await renderChart(major))
    t.not(y.caBundle, x.caBundle, 'each render without a cluster generates anew')
    t.notOk(x.cert.verify(y.ca.publicKey), 'another render\'s CA does not verify this certificate')
  })
}

t.test('the generated certificate in a real TLS handshake: the right name and CA pass, another name or CA fails', async (t) => {
  const x = tlsOf(await renderChart(4))
  const other = tlsOf(await renderChart(3))
  const server = createServer({ cert: x.certPem, key: x.keyPem }, (_req, res) => res.end('ok'))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  const port = (server.address() as AddressInfo).port
  const ca = b64(x.caBundle)
  for (const name of sans('mcp-hangar')) t.equal(await handshake(port, ca, name), 'ok', `the API server's view: ${name}`)
  t.equal(await handshake(port, ca, 'mcp-hangar-injector.other.svc'), 'ERR_TLS_CERT_ALTNAME_INVALID', 'a name the certificate does not carry')
  t.equal(await handshake(port, b64(other.caBundle), 'mcp-hangar-injector.mcp-hangar.svc'), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'a CA that did not sign it')
})

t.test('the SANs follow the release namespace, the validity follows validityDays', async (t) => {
  const x = tlsOf(await renderChart(3, { namespace: 'security', values: [{ injector: { tls: { validityDays: 30 } } }] }))
  t.same((x.cert.subjectAltName ?? '').split(', ').map((s) => s.replace(/^DNS:/, '')).sort(), sans('security').sort())
  const days = (Date.parse(x.cert.validTo) - Date.now()) / DAY_MS
  t.ok(days > 28 && days <= 31, `about 30 days (${days.toFixed(1)})`)
  t.ok((Date.parse(x.ca.validTo) - Date.now()) / DAY_MS <= 31, 'and the CA too')
})

t.test('a supplied certificate: no generated Secret, the Deployment mounts it, the webhook carries its CA', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-chart-ca-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=corp-ca', '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.crt')], { stdio: 'ignore' })
  const caBundle = readFileSync(join(dir, 'ca.crt')).toString('base64')
  for (const major of HELM_MAJORS) {
    const docs = await renderChart(major, { values: [{ injector: { tls: { existingSecret: 'corp-injector-tls', caBundle } } }] })
    t.same(docs.filter((d) => d.kind === 'Secret' && d.metadata.name === 'mcp-hangar-injector-tls'), [], `helm ${major}: no generated Secret`)
    t.equal(only(docs, 'MutatingWebhookConfiguration').webhooks[0].clientConfig.caBundle, caBundle, `helm ${major}: caBundle as given`)
    const dep = only(docs, 'Deployment')
    t.equal(dep.spec.template.spec.volumes.find((v: K8sObject) => v.name === 'tls').secret.secretName, 'corp-injector-tls')
    const again = only(await renderChart(major, { values: [VALUE_SETS.suppliedTls!] }), 'Deployment')
    t.not(again.spec.template.metadata.annotations['checksum/tls'], dep.spec.template.metadata.annotations['checksum/tls'], 'another CA rolls the pods')
  }
})

t.test('tokens: generated once per render (the copies carry the same signal token), given ones used verbatim, or an existing Secret', async (t) => {
  for (const major of HELM_MAJORS) {
    const docs = await renderChart(major, { values: [{ aggregator: { signalTokenNamespaces: ['tools', 'data'] } }] })
    const main = only(docs, 'Secret', 'mcp-hangar-aggregator-tokens')
    const signal = b64(main.data['signal-token'])
    const admin = b64(main.data['admin-token'])
    t.match(signal, /^[A-Za-z0-9]{48}$/, `helm ${major}: a 48-character signal token`)
    t.match(admin, /^[A-Za-z0-9]{48}$/)
    t.not(signal, admin, 'two different tokens')
    const copies = docs.filter((d) => d.kind === 'Secret' && d.metadata.name === 'mcp-hangar-signal-token')
    t.same(copies.map((c) => c.metadata.namespace), ['tools', 'data'])
    for (const c of copies) {
      t.same(Object.keys(c.data), ['token'], 'the key injected sidecars read')
      t.equal(b64(c.data.token), signal, `${c.metadata.namespace}: the same signal token`)
    }
    t.notOk(copies.some((c) => b64(c.data.token) === admin), 'the admin token is never copied out')
    const again = b64(only(await renderChart(major), 'Secret', 'mcp-hangar-aggregator-tokens').data['signal-token'])
    t.not(again, signal, 'control: a render without a cluster generates anew')

    const given = await renderChart(major, { values: [VALUE_SETS.suppliedTls!] })
    const g = only(given, 'Secret', 'mcp-hangar-aggregator-tokens')
    t.equal(b64(g.data['signal-token']), 'signal-token-0123456789abcdef')
    t.equal(b64(g.data['admin-token']), 'admin-token-0123456789abcdef')

    const existing = await renderChart(major, { values: [{ aggregator: { tokens: { existingSecret: 'vault-tokens' } } }] })
    t.same(existing.filter((d) => d.kind === 'Secret' && /token/.test(d.metadata.name)), [], 'an existing Secret: the chart makes none')
    const env = only(existing, 'StatefulSet').spec.template.spec.containers[0].env
    t.same(env.map((e: K8sObject) => e.valueFrom.secretKeyRef.name), ['vault-tokens', 'vault-tokens'])
  }
})
