// An upgrade keeps the generated secrets: the chart's `lookup` of the injector's TLS Secret and
// the aggregator's token Secret, for real, against a minimal Kubernetes API on loopback (legacy
// discovery and GET of one Secret, as Helm 3 and Helm 4 ask them), rendered with
// `helm template --dry-run=server --disable-openapi-validation` (this API serves no OpenAPI
// document). Controls: with no Secret in the cluster, or an incomplete one, the chart generates
// anew; a token given in values replaces the stored one.
import t from 'tap'
import type { Test } from 'tap'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { HELM_MAJORS, only, parseManifests, templateChart, renderChart, type K8sObject } from '../helpers/helm.js'

/** The resources of the kinds the chart renders, by group version: [plural, kind, namespaced]. */
const DISCOVERY: Record<string, Array<[string, string, boolean]>> = {
  v1: [['secrets', 'Secret', true], ['configmaps', 'ConfigMap', true], ['services', 'Service', true], ['serviceaccounts', 'ServiceAccount', true]],
  'apps/v1': [['deployments', 'Deployment', true], ['statefulsets', 'StatefulSet', true]],
  'policy/v1': [['poddisruptionbudgets', 'PodDisruptionBudget', true]],
  'networking.k8s.io/v1': [['networkpolicies', 'NetworkPolicy', true]],
  'admissionregistration.k8s.io/v1': [['mutatingwebhookconfigurations', 'MutatingWebhookConfiguration', false]],
}

/** A loopback API server that knows `secrets` (namespace → name → object) and records what Helm asked. */
async function fakeApi(t: Test, secrets: K8sObject[]): Promise<{ kubeconfig: string; asked: string[] }> {
  const asked: string[] = []
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    asked.push(`${req.method} ${url.pathname}`)
    const json = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' })
      res.end(JSON.stringify(body))
    }
    // Discovery (legacy: /version, /api, /apis and one resource list per group version), which
    // Helm 3 reads for the Secret lookups and Helm 4 also to map every rendered kind.
    if (req.method === 'GET' && url.pathname === '/version') return json(200, { major: '1', minor: '31', gitVersion: 'v1.31.0', platform: 'linux/amd64' })
    if (req.method === 'GET' && url.pathname === '/api') return json(200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] })
    if (req.method === 'GET' && url.pathname === '/apis') {
      const groups = Object.keys(DISCOVERY).filter((gv) => gv !== 'v1').map((gv) => ({ name: gv.split('/')[0], versions: [{ groupVersion: gv, version: 'v1' }], preferredVersion: { groupVersion: gv, version: 'v1' } }))
      return json(200, { kind: 'APIGroupList', apiVersion: 'v1', groups })
    }
    const gv = url.pathname === '/api/v1' ? 'v1' : url.pathname.replace(/^\/apis\//, '')
    if (req.method === 'GET' && DISCOVERY[gv]) {
      return json(200, { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gv, resources: DISCOVERY[gv]!.map(([name, kind, namespaced]) => ({ name, singularName: kind.toLowerCase(), namespaced, kind, verbs: ['get', 'list', 'create', 'patch'] })) })
    }
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/secrets\/([^/]+)$/.exec(url.pathname)
    const found = m && req.method === 'GET' && secrets.find((s) => s.metadata.namespace === m[1] && s.metadata.name === m[2])
    if (found) return json(200, found)
    return json(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: 'not found' })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  const dir = mkdtempSync(join(tmpdir(), 'hangar-kubeconfig-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const kubeconfig = join(dir, 'config')
  const server_ = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  writeFileSync(kubeconfig, JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'c',
    clusters: [{ name: 'f', cluster: { server: server_ } }], users: [{ name: 'u', user: { token: 'test' } }], contexts: [{ name: 'c', context: { cluster: 'f', user: 'u' } }],
  }))
  return { kubeconfig, asked }
}

/** What a render generated: the two Secrets' data, the webhook's caBundle and the injector's checksum. */
function generated(docs: K8sObject[]) {
  return {
    tls: only(docs, 'Secret', 'mcp-hangar-injector-tls').data,
    tokens: only(docs, 'Secret', 'mcp-hangar-aggregator-tokens').data,
    caBundle: only(docs, 'MutatingWebhookConfiguration').webhooks[0].clientConfig.caBundle,
    checksum: only(docs, 'Deployment').spec.template.metadata.annotations['checksum/tls'],
  }
}

async function renderAgainst(t: Test, major: 3 | 4, kubeconfig: string): Promise<K8sObject[]> {
  const r = await templateChart(major, { args: ['--dry-run=server', '--disable-openapi-validation', '--kubeconfig', kubeconfig] })
  t.equal(r.code, 0, `helm ${major} template --dry-run=server: ${r.stderr.trim()}`)
  return parseManifests(r.stdout)
}

for (const major of HELM_MAJORS) {
  t.test(`helm ${major}: an upgrade keeps the CA, the certificate and the tokens it finds in the cluster`, async (t) => {
    const first = await renderChart(major)
    // As Helm stores them on install: with the release's ownership annotations.
    const owned = { 'meta.helm.sh/release-name': 'hangar', 'meta.helm.sh/release-namespace': 'mcp-hangar' }
    const installed = first.filter((d) => d.kind === 'Secret').map((d): K8sObject => ({ ...d, metadata: { ...d.metadata, annotations: owned } }))
    const api = await fakeApi(t, installed)
    const again = await renderAgainst(t, major, api.kubeconfig)
    t.ok(api.asked.includes('GET /api/v1/namespaces/mcp-hangar/secrets/mcp-hangar-injector-tls'), 'Helm looked the TLS Secret up')
    t.ok(api.asked.includes('GET /api/v1/namespaces/mcp-hangar/secrets/mcp-hangar-aggregator-tokens'), 'and the tokens')
    t.same(generated(again), generated(first), 'same CA, certificate, key, tokens, caBundle and checksum: nothing rotates, no pod rolls')

    // Control: an empty cluster, a fresh install: everything generated anew.
    const empty = await fakeApi(t, [])
    const fresh = generated(await renderAgainst(t, major, empty.kubeconfig))
    const old = generated(first)
    t.not(fresh.caBundle, old.caBundle, 'no Secret found: a new CA')
    t.not(fresh.tokens['signal-token'], old.tokens['signal-token'], 'and new tokens')

    // An incomplete TLS Secret (no key) is not reused: a new CA and certificate, the tokens kept.
    const broken = installed.map((s) => (s.metadata.name === 'mcp-hangar-injector-tls' ? { ...s, data: { 'ca.crt': s.data['ca.crt'], 'tls.crt': s.data['tls.crt'] } } : s))
    const partial = await fakeApi(t, broken)
    const redone = generated(await renderAgainst(t, major, partial.kubeconfig))
    t.not(redone.caBundle, old.caBundle, 'a Secret without tls.key: regenerated')
    t.equal(redone.caBundle, redone.tls['ca.crt'], 'and consistent again')
    t.same(redone.tokens, old.tokens, 'the tokens are kept')

    // Tokens given in values win over the stored ones.
    const given = await templateChart(major, { args: ['--dry-run=server', '--disable-openapi-validation', '--kubeconfig', api.kubeconfig, '--set', 'aggregator.tokens.admin=new-admin-token-0123456789'] })
    const tok = only(parseManifests(given.stdout), 'Secret', 'mcp-hangar-aggregator-tokens').data
    t.equal(Buffer.from(tok['admin-token'], 'base64').toString(), 'new-admin-token-0123456789', 'a given admin token replaces the stored one')
    t.equal(tok['signal-token'], old.tokens['signal-token'], 'the stored signal token stays')
  })
}
