/**
 * The admission webhook end to end, with the test acting as the Kubernetes API server (none can
 * run here): the chart is rendered with Helm 3 and Helm 4; the injector's container arguments,
 * its TLS Secret and the MutatingWebhookConfiguration come from that output. The real
 * `mcp-hangar k8s webhook` runs with those arguments (the Secret's files where the Deployment
 * mounts them; only the listen address is changed to a free loopback port). The test calls it at
 * the service name of `clientConfig` (resolved to 127.0.0.1), verifying the serving certificate
 * against `caBundle` and that name, as the API server does; sends AdmissionReview v1 for the Pod of
 * a Deployment rendered from a chart of a real MCP server (test/fixtures/k8s/fetch-chart:
 * mcp-fetch-server behind supergateway); applies the JSONPatch with fast-json-patch; validates the
 * result with kubernetes-models; and compares it with what `k8s inject` makes of the same
 * Deployment. Then the failures: a pod that cannot be isolated, a dry run, malformed bodies, an
 * unknown kind, 5 MB, a client that does not trust the CA; the webhook stays up.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomUUID, X509Certificate } from 'node:crypto'
import { connect as tlsConnect } from 'node:tls'
import t from 'tap'
import fjp from 'fast-json-patch'
import { Pod } from 'kubernetes-models/v1'
import { parse as parseYaml, parseAllDocuments } from 'yaml'
import { freePort } from '../helpers/mcp.js'
import { HELM_MAJORS, only, parseManifests, renderChart, runHelm, type HelmMajor, type K8sObject } from '../helpers/helm.js'
import { BUNDLE } from '../helpers/up.js'

const root = new URL('../../', import.meta.url).pathname
const FETCH_CHART = join(root, 'test/fixtures/k8s/fetch-chart')
const missing = existsSync(BUNDLE) ? undefined : `${BUNDLE} is missing: run npm run build`
if (missing && process.env.CI) t.fail(missing)

t.setTimeout(300_000)

interface Reply { status: number; body: string }

/** POSTs to the webhook by its service name (resolved to 127.0.0.1), trusting `ca` only, checking the name. */
function post(port: number, host: string, path: string, body: Buffer | string, ca: string | undefined, headers: Record<string, string> = { 'content-type': 'application/json' }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({
      host, port, path, method: 'POST', headers, servername: host, agent: false, ...(ca !== undefined && { ca }),
      lookup: (_h, _o, cb) => cb(null, [{ address: '127.0.0.1', family: 4 }] as never, undefined as never),
    }, (res) => {
      let b = ''
      res.on('data', (d: Buffer) => (b += d.toString()))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

function get(port: number, host: string, path: string, ca: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, servername: host, ca, agent: false, lookup: (_h, _o, cb) => cb(null, [{ address: '127.0.0.1', family: 4 }] as never, undefined as never) }, (res) => {
      let b = ''
      res.on('data', (d: Buffer) => (b += d.toString()))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }))
    })
    req.on('error', reject)
    req.end()
  })
}

/** The Pod a ReplicaSet controller would create from a Deployment's template (its generateName, hash label and owner). */
function podOf(dep: K8sObject, namespace: string): K8sObject {
  const tpl = dep.spec.template
  const rs = `${dep.metadata.name}-7d4b9c8f6`
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: {
      generateName: `${rs}-`, namespace, labels: { ...tpl.metadata.labels, 'pod-template-hash': '7d4b9c8f6' }, annotations: tpl.metadata.annotations,
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rs, uid: randomUUID(), controller: true, blockOwnerDeletion: true }],
    },
    spec: tpl.spec,
  }
}

function review(pod: K8sObject, o: { dryRun?: boolean; kind?: string; resource?: string } = {}): K8sObject {
  const kind = o.kind ?? 'Pod'
  const resource = o.resource ?? 'pods'
  return {
    apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview',
    request: {
      uid: randomUUID(), kind: { group: '', version: 'v1', kind }, resource: { group: '', version: 'v1', resource },
      requestKind: { group: '', version: 'v1', kind }, requestResource: { group: '', version: 'v1', resource },
      namespace: 'tools', operation: 'CREATE', userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller', groups: ['system:serviceaccounts'] },
      object: pod, oldObject: null, dryRun: o.dryRun ?? false, options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
    },
  }
}

/** A pod spec with what differs by design between the two front doors taken out: where the sidecar's config comes from. */
function withoutConfigDelivery(spec: K8sObject): K8sObject {
  const s = structuredClone(spec)
  for (const c of [...(s.initContainers ?? []), ...(s.containers ?? [])]) {
    if (c.name !== 'mcp-hangar-sidecar') continue
    c.args = (c.args as string[]).filter((a, i, all) => !['-c', '--config-env'].includes(a) && !['-c', '--config-env'].includes(all[i - 1] ?? ''))
    c.env = (c.env ?? []).filter((e: K8sObject) => e.name !== 'HANGAR_SIDECAR_CONFIG')
    c.volumeMounts = (c.volumeMounts ?? []).filter((m: K8sObject) => m.name !== 'mcp-hangar-config')
  }
  for (const c of s.initContainers ?? []) if (c.name === 'mcp-hangar-init') c.volumeMounts = (c.volumeMounts ?? []).filter((m: K8sObject) => m.name !== 'mcp-hangar-config')
  s.volumes = (s.volumes ?? []).filter((v: K8sObject) => v.name !== 'mcp-hangar-config')
  for (const c of [...(s.initContainers ?? []), ...(s.containers ?? [])]) if (Array.isArray(c.volumeMounts) && c.volumeMounts.length === 0) delete c.volumeMounts
  return s
}

for (const major of HELM_MAJORS) {
  t.test(`Helm ${major}: the chart's webhook, called as the API server calls it`, { skip: missing ?? false }, async (t) => {
    const docs = await renderChart(major as HelmMajor)
    const mwc = only(docs, 'MutatingWebhookConfiguration')
    const hook = mwc.webhooks[0]
    const svc = hook.clientConfig.service
    const host = `${svc.name}.${svc.namespace}.svc`
    const ca = Buffer.from(hook.clientConfig.caBundle, 'base64').toString()
    const secret = docs.find((d) => d.kind === 'Secret' && d.metadata.name === 'mcp-hangar-injector-tls')!
    t.ok(secret, 'the chart generated the serving certificate')
    const cert = new X509Certificate(Buffer.from(secret.data['tls.crt'], 'base64'))
    t.ok(cert.verify(new X509Certificate(ca).publicKey), 'caBundle signed the serving certificate')
    t.match(cert.subjectAltName, new RegExp(`DNS:${host.replaceAll('.', '\\.')}(,|$)`), `the certificate names ${host}`)

    // The injector as its Deployment runs it: the Secret's files where the Deployment mounts them.
    const dep = only(docs, 'Deployment', docs.find((d) => d.kind === 'Deployment' && /injector/.test(d.metadata.name))!.metadata.name)
    const container = dep.spec.template.spec.containers[0]
    const tlsMount = container.volumeMounts.find((m: K8sObject) => /tls/.test(m.name)).mountPath as string
    const dir = mkdtempSync(join(tmpdir(), 'hangar-webhook-e2e-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    mkdirSync(join(dir, 'tls'))
    writeFileSync(join(dir, 'tls/tls.crt'), Buffer.from(secret.data['tls.crt'], 'base64'))
    writeFileSync(join(dir, 'tls/tls.key'), Buffer.from(secret.data['tls.key'], 'base64'), { mode: 0o600 })
    const port = await freePort()
    const args = (container.args as string[]).map((a) => a.replace(tlsMount.replace(/\/$/, ''), join(dir, 'tls')))
    const li = args.indexOf('--listen')
    t.ok(li >= 0, `the chart passes --listen: ${args.join(' ')}`)
    t.equal(args[li + 1], ':8443', 'the chart listens on :8443')
    args[li + 1] = `127.0.0.1:${port}`
    t.same(args.slice(0, 2), ['k8s', 'webhook'])
    const proc: ChildProcess = spawn(process.execPath, [BUNDLE, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MCP_LOG_LEVEL: 'warn' } })
    let out = ''
    proc.stdout!.on('data', (d: Buffer) => (out += d.toString()))
    proc.stderr!.on('data', (d: Buffer) => (out += d.toString()))
    t.teardown(() => { if (proc.exitCode === null) proc.kill('SIGKILL') })
    const until = Date.now() + 20_000
    let healthy = false
    while (!healthy && Date.now() < until) {
      healthy = await get(port, host, '/healthz', ca).then((r) => r.status === 200, () => false)
      if (!healthy) await new Promise((r) => setTimeout(r, 200))
    }
    t.ok(healthy, `the webhook answers /healthz over TLS at ${host}: ${out}`)

    // ---- a real MCP server's chart, its Deployment's pod
    const fetchRender = await runHelm(major as HelmMajor, ['template', 'fetch', FETCH_CHART, '--namespace', 'tools'])
    t.equal(fetchRender.code, 0, fetchRender.stderr)
    const fetchDocs = parseManifests(fetchRender.stdout)
    const fetchDep = only(fetchDocs, 'Deployment')
    const pod = podOf(fetchDep, 'tools')
    const r = await post(port, host, `${hook.clientConfig.service.path}?timeout=10s`, JSON.stringify(review(pod)), ca)
    t.equal(r.status, 200)
    const answer = JSON.parse(r.body) as K8sObject
    t.equal(answer.apiVersion, 'admission.k8s.io/v1')
    t.equal(answer.kind, 'AdmissionReview')
    t.equal(answer.response.allowed, true, JSON.stringify(answer.response.status ?? {}))
    t.equal(answer.response.patchType, 'JSONPatch')
    const ops = JSON.parse(Buffer.from(answer.response.patch, 'base64').toString()) as fjp.Operation[]
    const patched = fjp.applyPatch(structuredClone(pod), ops, true, false).newDocument as K8sObject
    t.doesNotThrow(() => new Pod(patched as never).validate(), 'the patched Pod is valid')
    t.same(pod.spec.containers[0].command, fetchDep.spec.template.spec.containers[0].command, 'the request object was not changed by applying')

    // ---- the same Deployment through `k8s inject`: the same pod, config delivery aside
    writeFileSync(join(dir, 'fetch.yaml'), fetchRender.stdout)
    const inj = spawn(process.execPath, [BUNDLE, 'k8s', 'inject', '-f', join(dir, 'fetch.yaml'), '-o', join(dir, 'fetch.injected.yaml'), ...['--sidecar-image', args[args.indexOf('--sidecar-image') + 1]!, '--aggregator-url', args[args.indexOf('--aggregator-url') + 1]!]], { stdio: 'ignore' })
    t.equal(await new Promise((res) => inj.once('exit', res)), 0, 'k8s inject ran')
    const injected = parseAllDocuments(readFileSync(join(dir, 'fetch.injected.yaml'), 'utf8')).map((d) => d.toJS() as K8sObject)
    const injDep = injected.find((d) => d.kind === 'Deployment')!
    const cm = injected.find((d) => d.kind === 'ConfigMap')!
    t.same(withoutConfigDelivery(patched.spec), withoutConfigDelivery(injDep.spec.template.spec), 'webhook and k8s inject give the same pod spec')
    const envConfig = patched.spec.initContainers.find((c: K8sObject) => c.name === 'mcp-hangar-sidecar').env.find((e: K8sObject) => e.name === 'HANGAR_SIDECAR_CONFIG').value as string
    // Kubernetes expands env values: `$$` becomes `$` (and `$(VAR)` a variable), so the webhook writes `$$`.
    const seen = envConfig.replace(/\$\$/g, '$')
    t.notMatch(envConfig.replace(/\$\$/g, ''), /\$\(/, 'no $( reference is left for Kubernetes to expand')
    t.same(parseYaml(seen), parseYaml(cm.data['hangar.yaml']), "the webhook's env config, as the container sees it, is the ConfigMap's hangar.yaml")
    for (const k of Object.keys(injDep.spec.template.metadata.annotations)) {
      if (k === 'mcp.hangar.io/injected') continue
      t.equal(patched.metadata.annotations[k], injDep.spec.template.metadata.annotations[k], `annotation ${k}`)
    }

    // ---- reinvocation: the patched pod comes back unchanged
    const again = JSON.parse((await post(port, host, '/mutate', JSON.stringify(review(patched)), ca)).body) as K8sObject
    t.equal(again.response.allowed, true)
    const againOps = again.response.patch ? (JSON.parse(Buffer.from(again.response.patch, 'base64').toString()) as unknown[]) : []
    t.same(againOps, [], 'reinvocation: an injected pod gets an empty patch')

    // ---- dry run: the same answer
    const dry = JSON.parse((await post(port, host, '/mutate', JSON.stringify(review(pod, { dryRun: true })), ca)).body) as K8sObject
    t.same(JSON.parse(Buffer.from(dry.response.patch, 'base64').toString()), ops, 'a dry run gets the same patch (no side effects either way)')

    // ---- a pod that cannot be isolated is denied with the reason
    const hostNet = structuredClone(pod)
    hostNet.spec.hostNetwork = true
    const denied = JSON.parse((await post(port, host, '/mutate', JSON.stringify(review(hostNet)), ca)).body) as K8sObject
    t.equal(denied.response.allowed, false)
    t.match(denied.response.status.message, /spec\.hostNetwork/)

    // ---- what the webhook must survive
    const uninjected = structuredClone(pod)
    delete uninjected.metadata.annotations['mcp.hangar.io/inject']
    const pass = JSON.parse((await post(port, host, '/mutate', JSON.stringify(review(uninjected)), ca)).body) as K8sObject
    t.same([pass.response.allowed, pass.response.patch], [true, undefined], 'a pod without the annotation passes unchanged')
    const svcReview = JSON.parse((await post(port, host, '/mutate', JSON.stringify(review({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'x' }, spec: {} }, { kind: 'Service', resource: 'services' })), ca)).body) as K8sObject
    t.same([svcReview.response.allowed, svcReview.response.patch], [true, undefined], 'an unknown kind passes unchanged')
    const malformed = await post(port, host, '/mutate', '{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": ', ca)
    t.match(JSON.parse(malformed.body), { kind: 'AdmissionReview', response: { allowed: false } }, 'malformed JSON gets an AdmissionReview refusing it')
    const notReview = await post(port, host, '/mutate', JSON.stringify({ hello: 'world' }), ca)
    t.match(JSON.parse(notReview.body), { response: { allowed: false, status: { code: 400 } } })
    const big = await post(port, host, '/mutate', Buffer.alloc(5 * 1024 * 1024, 0x20), ca).catch((e: Error) => ({ status: 0, body: e.message }))
    t.ok(big.status === 413 || big.status === 0, `5 MB is refused (${big.status})`)
    await t.rejects(post(port, host, '/mutate', JSON.stringify(review(pod)), undefined), /self.signed|unable to verify|certificate/i, 'a client that does not trust the CA fails its handshake')
    await new Promise<void>((res) => {
      const s = tlsConnect({ host: '127.0.0.1', port, servername: 'evil.example', ca }, () => res())
      s.on('error', (e) => { t.match(e.message, /altnames|Hostname|IP/i, 'a name the certificate does not carry fails verification'); res() })
      s.on('secureConnect', () => s.end())
    })
    t.equal((await get(port, host, '/healthz', ca)).status, 200, 'the webhook is still up')
    t.equal(proc.exitCode, null)
    proc.kill('SIGTERM')
    t.equal(await new Promise((res) => proc.once('exit', res)), 0, 'SIGTERM stops it cleanly')
  })
}
