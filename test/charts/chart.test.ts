// charts/mcp-hangar under Helm 3 (3.17) and Helm 4 (4.1), both from the npm registry: `helm lint
// --strict` and `helm template` of the defaults and four other value sets; every rendered document
// validated with kubernetes-models (an unknown kind fails); both versions render the same
// manifests; the security-relevant fields (webhook failure policy, side effects, selectors, the
// hardening of every container, no ClusterRole, no service account token); the injector's exact
// arguments; the aggregator's config, loaded by the real config loader and served by a real
// aggregator on loopback that answers the probes; and values.schema.json rejecting bad values
// with a message naming them.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1'
import { ConfigMap, Secret, Service, ServiceAccount } from 'kubernetes-models/v1'
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1'
import { MutatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1'
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1'
import { ClusterRole, ClusterRoleBinding, Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1'
import { parse as parseYaml } from 'yaml'
import { HELM_MAJORS, lintChart, only, renderChart, templateChart, type HelmMajor, type K8sObject, selects } from '../helpers/helm.js'
import { VALUE_SETS } from '../fixtures/charts/values.js'
import { parseConfig } from '../../config/load.js'
import { Aggregator } from '../../aggregator/aggregator.js'
import { silentLogger } from '../../core/log.js'
import { HANGAR_VERSION } from '../../core/version.js'
import { DEFAULT_AGGREGATOR_IMAGE, DEFAULT_SIDECAR_IMAGE } from '../../sidecar/images.js'
import { DEFAULT_K8S_AGGREGATOR_URL } from '../../cli/k8s.js'

/** kubernetes-models class of each kind the chart may render, by apiVersion/kind. */
const MODELS: Record<string, new (o: never) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'v1/Service': Service,
  'v1/Secret': Secret,
  'v1/ConfigMap': ConfigMap,
  'v1/ServiceAccount': ServiceAccount,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'admissionregistration.k8s.io/v1/MutatingWebhookConfiguration': MutatingWebhookConfiguration,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
}

/** Validates one document with its kubernetes-models class. @throws for an unknown kind or an invalid object. */
function validateDoc(d: K8sObject): void {
  const Model = MODELS[`${d.apiVersion}/${d.kind}`]
  if (!Model) throw new Error(`unknown kind ${d.apiVersion}/${d.kind} (${d.metadata?.name})`)
  new Model(d as never).validate()
}

const renders = new Map<string, Promise<K8sObject[]>>()
/** One render per (Helm version, value set), shared by the tests below. */
function rendered(major: HelmMajor, set: string): Promise<K8sObject[]> {
  const key = `${major}/${set}`
  if (!renders.has(key)) renders.set(key, renderChart(major, { values: [VALUE_SETS[set]!] }))
  return renders.get(key)!
}

const workloads = (docs: K8sObject[]) => docs.filter((d) => d.kind === 'Deployment' || d.kind === 'StatefulSet')
const containersOf = (w: K8sObject): K8sObject[] => [...(w.spec.template.spec.initContainers ?? []), ...w.spec.template.spec.containers]

t.test('values.schema.json: draft-07, and every object closed (additionalProperties false, or a typed map)', async (t) => {
  const schema = JSON.parse(readFileSync(new URL('../../charts/mcp-hangar/values.schema.json', import.meta.url), 'utf8')) as K8sObject
  t.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#')
  const open: string[] = []
  let objects = 0
  const walk = (node: unknown, at: string): void => {
    if (Array.isArray(node)) return node.forEach((n, i) => walk(n, `${at}[${i}]`))
    if (!node || typeof node !== 'object') return
    const n = node as K8sObject
    if (n.type === 'object' || (Array.isArray(n.type) && n.type.includes('object'))) {
      objects++
      const ap = n.additionalProperties
      if (!(ap === false || (ap && typeof ap === 'object' && ap.type === 'string'))) open.push(at)
    }
    for (const [k, v] of Object.entries(n)) walk(v, `${at}/${k}`)
  }
  walk(schema, '#')
  t.ok(objects >= 25, `${objects} object schemas`)
  t.same(open, [], 'none open')
})

t.test('Chart.yaml: apiVersion v2, native-sidecar kubeVersion, appVersion is the package version', async (t) => {
  const chart = parseYaml(readFileSync(new URL('../../charts/mcp-hangar/Chart.yaml', import.meta.url), 'utf8')) as K8sObject
  t.equal(chart.apiVersion, 'v2')
  t.equal(chart.kubeVersion, '>=1.29.0-0')
  t.equal(chart.appVersion, HANGAR_VERSION)
})

for (const major of HELM_MAJORS) {
  t.test(`helm ${major}: lint --strict passes for every value set`, async (t) => {
    for (const [name, values] of Object.entries(VALUE_SETS)) {
      const r = await lintChart(major, { values: [values] })
      t.equal(r.code, 0, `${name}: exit 0 ${r.stdout}${r.stderr}`)
      t.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/, `${name}: no failure`)
      t.notMatch(r.stdout, /\[(WARNING|ERROR)\]/, `${name}: no warning`)
    }
  })

  t.test(`helm ${major}: every rendered document validates with kubernetes-models`, async (t) => {
    for (const name of Object.keys(VALUE_SETS)) {
      const docs = await rendered(major, name)
      t.ok(docs.length >= 10, `${name}: ${docs.length} documents`)
      for (const d of docs) t.doesNotThrow(() => validateDoc(d), `${name}: ${d.kind} ${d.metadata?.name}`)
    }
  })
}

t.test('the rendered text has no whitespace-only line (a conditional block left its indentation behind)', async (t) => {
  for (const major of HELM_MAJORS) {
    for (const [name, values] of Object.entries(VALUE_SETS)) {
      const r = await templateChart(major, { values: [values] })
      t.same(r.stdout.split('\n').filter((l) => /^[ \t]+$/.test(l)), [], `helm ${major}/${name}`)
    }
  }
})

t.test('the validation can fail: an unknown kind and a wrongly typed field are refused', async (t) => {
  const docs = await rendered(3, 'defaults')
  t.throws(() => validateDoc({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' } }), /unknown kind v1\/Pod/)
  const dep = structuredClone(only(docs, 'Deployment'))
  dep.spec.replicas = 'two'
  t.throws(() => validateDoc(dep), 'a Deployment with replicas "two"')
  const mwc = structuredClone(only(docs, 'MutatingWebhookConfiguration'))
  delete mwc.webhooks[0].sideEffects
  t.throws(() => validateDoc(mwc), 'a webhook without sideEffects')
})

t.test('the kinds rendered by default: and no RBAC object at all', async (t) => {
  const docs = await rendered(4, 'defaults')
  const kinds = docs.map((d) => `${d.kind}/${d.metadata.name}`).sort()
  t.same(kinds, [
    'ConfigMap/mcp-hangar-aggregator',
    'Deployment/mcp-hangar-injector',
    'MutatingWebhookConfiguration/mcp-hangar-injector',
    'NetworkPolicy/mcp-hangar-aggregator',
    'NetworkPolicy/mcp-hangar-default-deny',
    'NetworkPolicy/mcp-hangar-injector',
    'PodDisruptionBudget/mcp-hangar-injector',
    'Secret/mcp-hangar-aggregator-tokens',
    'Secret/mcp-hangar-injector-tls',
    'Service/mcp-hangar-aggregator',
    'Service/mcp-hangar-aggregator-headless',
    'Service/mcp-hangar-injector',
    'ServiceAccount/mcp-hangar-aggregator',
    'ServiceAccount/mcp-hangar-injector',
    'StatefulSet/mcp-hangar-aggregator',
  ])
  for (const d of docs) if (d.kind !== 'MutatingWebhookConfiguration') t.equal(d.metadata.namespace, 'mcp-hangar', `${d.kind} ${d.metadata.name} in the release namespace`)
})

/** The rendered documents of one Helm version with what each render generates anew (CA, certificate, tokens) blanked out. */
function withoutGenerated(docs: K8sObject[]): K8sObject[] {
  return docs.map((d) => {
    const c = structuredClone(d)
    if (c.kind === 'Secret' && ['mcp-hangar-injector-tls', 'mcp-hangar-aggregator-tokens', 'mcp-hangar-signal-token'].includes(c.metadata.name)) {
      for (const k of Object.keys(c.data)) c.data[k] = '<generated>'
    }
    if (c.kind === 'MutatingWebhookConfiguration') c.webhooks[0].clientConfig.caBundle = '<generated>'
    if (c.kind === 'Deployment') c.spec.template.metadata.annotations['checksum/tls'] = '<generated>'
    return c
  })
}

t.test('Helm 3 and Helm 4 render the same manifests for the same values', async (t) => {
  for (const name of Object.keys(VALUE_SETS)) {
    const [h3, h4] = await Promise.all([rendered(3, name), rendered(4, name)])
    t.same(withoutGenerated(h4), withoutGenerated(h3), `${name}: same documents apart from generated secrets`)
  }
  // Nothing generated when TLS and tokens are supplied: byte-for-byte the same objects.
  const [s3, s4] = await Promise.all([rendered(3, 'suppliedTls'), rendered(4, 'suppliedTls')])
  t.same(s4, s3, 'suppliedTls: identical, secrets included')
  // Control: the comparison sees a difference in a field it does not blank.
  const changed = withoutGenerated(s4)
  only(changed, 'Deployment').spec.replicas = 7
  t.notSame(changed, withoutGenerated(s3), 'a changed replica count is a difference')
})

t.test('every container and pod is hardened, under every value set and both Helm versions', async (t) => {
  for (const major of HELM_MAJORS) {
    for (const name of Object.keys(VALUE_SETS)) {
      const docs = await rendered(major, name)
      const ws = workloads(docs)
      t.equal(ws.length, 2, `${major}/${name}: the aggregator and the injector`)
      for (const w of ws) {
        const at = `${major}/${name} ${w.kind}`
        const pod = w.spec.template.spec
        t.equal(pod.automountServiceAccountToken, false, `${at}: no service account token`)
        t.equal(pod.serviceAccountName, w.metadata.name, `${at}: its own ServiceAccount`)
        t.notOk(pod.hostNetwork || pod.hostPID || pod.hostIPC, `${at}: no host namespaces`)
        // The Pod Security Standards' restricted profile: only these volume types, no host ports.
        const restricted = ['configMap', 'secret', 'emptyDir', 'persistentVolumeClaim', 'projected', 'downwardAPI', 'csi', 'ephemeral']
        t.same((pod.volumes ?? []).flatMap((v: K8sObject) => Object.keys(v).filter((k) => k !== 'name' && !restricted.includes(k))), [], `${at}: volume types of the restricted profile only`)
        t.notOk(containersOf(w).some((c) => (c.ports ?? []).some((p: K8sObject) => p.hostPort)), `${at}: no host port`)
        t.match(pod.securityContext, { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } }, `${at}: pod security context`)
        for (const c of containersOf(w)) {
          t.same(c.securityContext, {
            runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, allowPrivilegeEscalation: false, privileged: false,
            readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
          }, `${at} ${c.name}: container security context`)
          for (const k of ['requests', 'limits']) t.ok(c.resources?.[k]?.cpu && c.resources?.[k]?.memory, `${at} ${c.name}: ${k} for cpu and memory`)
          t.ok(c.livenessProbe && c.readinessProbe, `${at} ${c.name}: probes`)
        }
      }
      for (const sa of docs.filter((d) => d.kind === 'ServiceAccount')) t.equal(sa.automountServiceAccountToken, false, `${major}/${name}: ServiceAccount ${sa.metadata.name} mounts no token`)
      t.same(docs.filter((d) => /^(Cluster)?Role(Binding)?$/.test(d.kind)).map((d) => d.kind), [], `${major}/${name}: no Role, RoleBinding, ClusterRole or ClusterRoleBinding`)
    }
  }
})


t.test('the MutatingWebhookConfiguration: pod CREATE only, fail closed, no side effects, enabled namespaces but its own', async (t) => {
  for (const major of HELM_MAJORS) {
    const mwc = only(await rendered(major, 'defaults'), 'MutatingWebhookConfiguration')
    t.equal(mwc.webhooks.length, 1)
    const w = mwc.webhooks[0]
    t.equal(w.name, 'inject.mcp.hangar.io')
    t.same(w.admissionReviewVersions, ['v1'])
    t.same(w.clientConfig.service, { name: 'mcp-hangar-injector', namespace: 'mcp-hangar', path: '/mutate', port: 443 })
    t.same(w.rules, [
      { operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' },
      { operations: ['UPDATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods', 'pods/ephemeralcontainers'], scope: 'Namespaced' },
    ], 'pod CREATE (injection), pod UPDATE and ephemeral containers (guarding injected pods)')
    t.equal(w.failurePolicy, 'Fail')
    t.equal(w.sideEffects, 'None')
    t.equal(w.reinvocationPolicy, 'IfNeeded')
    t.equal(w.matchPolicy, 'Equivalent')
    t.equal(w.timeoutSeconds, 10)
    t.notOk('objectSelector' in w, 'no objectSelector unless one is set')
    const ns = (name: string, extra: Record<string, string> = {}) => ({ 'kubernetes.io/metadata.name': name, ...extra })
    const enabled = { 'mcp.hangar.io/injection': 'enabled' }
    t.ok(selects(w.namespaceSelector, ns('apps', enabled)), 'an enabled namespace is selected')
    t.notOk(selects(w.namespaceSelector, ns('apps')), 'an unlabelled namespace is not')
    t.notOk(selects(w.namespaceSelector, ns('apps', { 'mcp.hangar.io/injection': 'disabled' })), 'injection=disabled is not')
    t.notOk(selects(w.namespaceSelector, ns('mcp-hangar', enabled)), 'the release namespace is not, even when labelled')
    t.notOk(selects(w.namespaceSelector, ns('kube-system', enabled)), 'kube-system is not, even when labelled')
  }
  const custom = only(await rendered(4, 'custom'), 'MutatingWebhookConfiguration').webhooks[0]
  t.equal(custom.timeoutSeconds, 5)
  t.same(custom.objectSelector, { matchLabels: { 'mcp.hangar.io/managed': 'true' } })
  const other = only(await renderChart(3, { namespace: 'security' }), 'MutatingWebhookConfiguration').webhooks[0]
  t.equal(other.clientConfig.service.namespace, 'security', 'the Service namespace follows the release namespace')
  t.notOk(selects(other.namespaceSelector, { 'kubernetes.io/metadata.name': 'security', 'mcp.hangar.io/injection': 'enabled' }), 'and so does the exclusion')
  t.ok(selects(other.namespaceSelector, { 'kubernetes.io/metadata.name': 'mcp-hangar', 'mcp.hangar.io/injection': 'enabled' }), 'mcp-hangar is an ordinary namespace then')
})

t.test('the injector: exact arguments, HTTPS probes on /healthz, two replicas apart, a PodDisruptionBudget, the Service 443 → 8443', async (t) => {
  const args = (img: string, url: string) => ['k8s', 'webhook', '--tls-cert', '/etc/mcp-hangar/tls/tls.crt', '--tls-key', '/etc/mcp-hangar/tls/tls.key', '--listen', ':8443', '--sidecar-image', img, '--aggregator-url', url]
  for (const major of HELM_MAJORS) {
    const docs = await rendered(major, 'defaults')
    const dep = only(docs, 'Deployment', 'mcp-hangar-injector')
    const [c] = dep.spec.template.spec.containers
    t.equal(dep.spec.template.spec.containers.length, 1)
    t.same(c.args, args(DEFAULT_SIDECAR_IMAGE, DEFAULT_K8S_AGGREGATOR_URL), `helm ${major}: default args`)
    t.notOk(c.command, 'the image entrypoint runs mcp-hangar')
    t.equal(c.image, `mcp-hangar/injector:${HANGAR_VERSION}`)
    t.equal(c.imagePullPolicy, 'IfNotPresent')
    for (const p of ['readinessProbe', 'livenessProbe']) t.same(c[p].httpGet, { path: '/healthz', port: 'https', scheme: 'HTTPS' }, p)
    t.same(c.ports, [{ name: 'https', containerPort: 8443, protocol: 'TCP' }])
    t.same(c.volumeMounts.find((m: K8sObject) => m.name === 'tls'), { name: 'tls', mountPath: '/etc/mcp-hangar/tls', readOnly: true })
    t.equal(dep.spec.replicas, 2)
    const anti = dep.spec.template.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm
    t.equal(anti.topologyKey, 'kubernetes.io/hostname')
    t.same(anti.labelSelector.matchLabels, dep.spec.selector.matchLabels, 'anti-affinity against its own replicas')
    const pdb = only(docs, 'PodDisruptionBudget')
    t.equal(pdb.spec.minAvailable, 1)
    t.same(pdb.spec.selector.matchLabels, dep.spec.selector.matchLabels)
    const svc = only(docs, 'Service', 'mcp-hangar-injector')
    t.same(svc.spec.ports, [{ name: 'https', port: 443, targetPort: 'https', protocol: 'TCP' }])
    t.same(svc.spec.selector, dep.spec.selector.matchLabels, 'the Service selects the injector pods')
  }
  const custom = await rendered(4, 'custom')
  const c = only(custom, 'Deployment').spec.template.spec.containers[0]
  t.same(c.args, args('registry.example.com/sec/corp/hangar-sidecar:9.9.9', 'https://aggregator.internal.example:8443'), 'custom images and URL')
  t.equal(c.image, 'registry.example.com/sec/corp/hangar-injector:1.2.3', 'a per-component tag wins over image.tag')
  t.equal(c.imagePullPolicy, 'Always')
  t.same(only(custom, 'Deployment').spec.template.spec.imagePullSecrets, [{ name: 'regcred' }])
  t.equal(only(custom, 'Deployment').spec.replicas, 3)
  t.same(c.resources, { requests: { cpu: '20m', memory: '64Mi' }, limits: { cpu: '200m', memory: '128Mi' } })
  const single = await renderChart(3, { values: [{ injector: { replicas: 1 } }] })
  t.same(single.filter((d) => d.kind === 'PodDisruptionBudget'), [], 'one replica: no PodDisruptionBudget (it would block every drain)')
})

t.test('the aggregator: a StatefulSet on a PVC, its Service on 8000, its config loads and a real aggregator answers its probes', async (t) => {
  const docs = await rendered(3, 'defaults')
  const sts = only(docs, 'StatefulSet')
  t.equal(sts.spec.replicas, 1)
  t.equal(sts.spec.serviceName, 'mcp-hangar-aggregator-headless')
  t.equal(only(docs, 'Service', 'mcp-hangar-aggregator-headless').spec.clusterIP, 'None')
  const svc = only(docs, 'Service', 'mcp-hangar-aggregator')
  t.same(svc.spec.ports, [{ name: 'http', port: 8000, targetPort: 'http', protocol: 'TCP' }])
  t.same(svc.spec.selector, sts.spec.selector.matchLabels)
  t.equal(`http://${svc.metadata.name}.${svc.metadata.namespace}.svc:${svc.spec.ports[0].port}`, DEFAULT_K8S_AGGREGATOR_URL, 'the URL `k8s inject` uses by default')
  t.match(sts.spec.template.metadata.labels, { 'app.kubernetes.io/name': 'mcp-hangar', 'app.kubernetes.io/component': 'aggregator' }, 'the labels `k8s networkpolicy` selects the aggregator by')
  const [c] = sts.spec.template.spec.containers
  t.equal(c.image, DEFAULT_AGGREGATOR_IMAGE)
  t.same(c.args, ['aggregator', '-c', '/etc/mcp-hangar/hangar.yaml'])
  t.same(c.env.map((e: K8sObject) => [e.name, e.valueFrom.secretKeyRef]), [
    ['HANGAR_SIGNAL_TOKEN', { name: 'mcp-hangar-aggregator-tokens', key: 'signal-token' }],
    ['HANGAR_ADMIN_TOKEN', { name: 'mcp-hangar-aggregator-tokens', key: 'admin-token' }],
  ])
  for (const major of HELM_MAJORS) {
    const licensed = only(await renderChart(major, { values: [{ aggregator: { licenseSecret: 'hangar-license' } }] }), 'StatefulSet')
    t.same(licensed.spec.template.spec.containers[0].env.find((e: K8sObject) => e.name === 'MCP_LICENSE_KEY'), { name: 'MCP_LICENSE_KEY', valueFrom: { secretKeyRef: { name: 'hangar-license', key: 'license-key' } } }, `Helm ${major}: aggregator.licenseSecret gives the aggregator MCP_LICENSE_KEY`)
    const bad = await templateChart(major, { values: [{ aggregator: { licenseSecret: 'Not A Name' } }] })
    t.not(bad.code, 0, `Helm ${major}: a license Secret name that is no Kubernetes name is refused`)
    t.match(bad.stderr, /licenseSecret/)
  }
  const [claim] = sts.spec.volumeClaimTemplates
  t.equal(claim.spec.resources.requests.storage, '10Gi')
  t.notOk('storageClassName' in claim.spec, 'default StorageClass unless one is named')
  const mounts = Object.fromEntries(c.volumeMounts.map((m: K8sObject) => [m.name, m.mountPath]))
  t.equal(mounts[claim.metadata.name], '/var/lib/mcp-hangar', 'the claim is mounted on the data dir')

  const cm = only(docs, 'ConfigMap', 'mcp-hangar-aggregator')
  t.equal(sts.spec.template.spec.volumes.find((v: K8sObject) => v.name === 'config').configMap.name, cm.metadata.name)
  t.equal(mounts.config, '/etc/mcp-hangar')
  t.notMatch(cm.data['hangar.yaml'], /signal-token|admin-token/, 'no token in the ConfigMap')
  const env = { HANGAR_SIGNAL_TOKEN: 's'.repeat(48), HANGAR_ADMIN_TOKEN: 'a'.repeat(48) }
  const { config } = parseConfig(cm.data['hangar.yaml'], 'rendered ConfigMap', env)
  t.match(config.aggregator, { listen: '0.0.0.0:8000', data_dir: mounts.data, signal_tokens: [env.HANGAR_SIGNAL_TOKEN], admin_tokens: [env.HANGAR_ADMIN_TOKEN], audit_max_total_bytes: 8589934592 })
  t.ok(config.aggregator!.audit_max_total_bytes < 10 * 1024 ** 3, 'the audit budget fits the default 10Gi volume')
  const probes = { startupProbe: c.startupProbe.httpGet, livenessProbe: c.livenessProbe.httpGet, readinessProbe: c.readinessProbe.httpGet }
  t.same(Object.values(probes).map((p) => p.port), ['http', 'http', 'http'])

  // The same config, data dir moved to a temp folder and bound to loopback: every probe path answers 200.
  const dir = mkdtempSync(join(tmpdir(), 'hangar-chart-agg-'))
  const agg = new Aggregator({ config: { ...config, aggregator: { ...config.aggregator!, data_dir: dir } }, log: silentLogger(), host: '127.0.0.1', port: 0 })
  const port = await agg.start()
  t.teardown(async () => {
    await agg.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  for (const [name, p] of Object.entries(probes)) t.equal((await fetch(`http://127.0.0.1:${port}${p.path}`)).status, 200, `${name} ${p.path}`)
  t.equal((await fetch(`http://127.0.0.1:${port}/v1/providers`)).status, 401, 'control: the API itself wants the admin token')

  const storage = only(await rendered(4, 'storage'), 'StatefulSet').spec.volumeClaimTemplates[0].spec
  t.equal(storage.storageClassName, 'fast-ssd')
  t.equal(storage.resources.requests.storage, '50Gi')
  const cm2 = only(await rendered(4, 'storage'), 'ConfigMap')
  t.match(parseConfig(cm2.data['hangar.yaml'], 'storage', env).config.aggregator, { audit_max_bytes: 1048576, audit_keep_files: 4, audit_retention_days: 30, audit_max_total_bytes: 53687091200, memory_signals: 5000 })
  const custom = only(await rendered(4, 'custom'), 'StatefulSet').spec.template.spec
  t.equal(custom.containers[0].image, 'registry.example.com/sec/corp/hangar-aggregator:9.9.9')
  t.same(custom.containers[0].resources, { requests: { cpu: '250m', memory: '512Mi' }, limits: { cpu: 2, memory: '2Gi' } })
  t.same(custom.nodeSelector, { 'kubernetes.io/os': 'linux' })
  t.same(custom.tolerations, [{ key: 'dedicated', operator: 'Equal', value: 'security', effect: 'NoSchedule' }])
})

/**
 * Bad values: each must fail both `template` and `lint` under both versions, with a message naming
 * the offending key. The one rule JSON Schema cannot state (two values that must differ) is a
 * template `fail`, which `helm lint` reports as INFO and does not count (Helm's lint mode): for
 * that one, lint must print the message.
 */
const LINT_REPORTS_ONLY = 'the same signal and admin token'
const BAD_VALUES: Array<[string, Record<string, unknown>, RegExp[]]> = [
  ['an unknown top-level key', { injectr: { replicas: 2 } }, [/injectr/]],
  ['an unknown nested key', { injector: { tls: { existingSecrett: 'x' } } }, [/existingSecrett/, /tls/]],
  ['an unknown key in a provider policy', { networkPolicies: { providers: [{ name: 'a', namespace: 'b', podSelector: {}, fqdnPort: [] }] } }, [/fqdnPort/]],
  ['an unknown key in a label selector', { injector: { objectSelector: { matchLabel: { a: 'b' } } } }, [/matchLabel/]],
  ['a string for an integer', { injector: { replicas: '2' } }, [/replicas/, /integer/]],
  // (YAML 1.1, which Helm reads, takes an unquoted yes for true: the string must be one Helm keeps.)
  ['a boolean given as a string', { networkPolicies: { enabled: 'true' } }, [/enabled/, /boolean/]],
  ['a pull policy outside the enum', { image: { pullPolicy: 'Sometimes' } }, [/pullPolicy/]],
  ['a webhook timeout beyond 30 s', { injector: { timeoutSeconds: 31 } }, [/timeoutSeconds/]],
  ['a port beyond 65535', { networkPolicies: { providers: [{ name: 'a', namespace: 'b', podSelector: {}, fqdnPorts: [{ port: 70000 }] }] } }, [/port/]],
  ['FQDN ports without DNS', { networkPolicies: { providers: [{ name: 'a', namespace: 'b', podSelector: {}, dns: false, fqdnPorts: [{ port: 443 }] }] } }, [/dns/]],
  ['a provider policy without a namespace', { networkPolicies: { providers: [{ name: 'a', podSelector: {} }] } }, [/namespace/]],
  ['a short token', { aggregator: { tokens: { signal: 'short' } } }, [/signal/]],
  ['an audit setting below the aggregator minimum', { aggregator: { config: { memory_signals: 10 } } }, [/memory_signals/]],
  ['caBundle without existingSecret', { injector: { tls: { caBundle: 'QUJD' } } }, [/existingSecret/, /tls/]],
  ['existingSecret without caBundle', { injector: { tls: { existingSecret: 'mine' } } }, [/caBundle/, /tls/]],
  ['tokens both given and in an existing Secret', { aggregator: { tokens: { existingSecret: 'vault', admin: 'a'.repeat(20) } } }, [/admin/]],
  ['signal token copies from an existing Secret', { aggregator: { tokens: { existingSecret: 'vault' }, signalTokenNamespaces: ['tools'] } }, [/signalTokenNamespaces/]],
  ['the same signal and admin token', { aggregator: { tokens: { signal: 'x'.repeat(20), admin: 'x'.repeat(20) } } }, [/aggregator\.tokens/]],
]

for (const major of HELM_MAJORS) {
  t.test(`helm ${major}: bad values fail template and lint with a message naming them`, async (t) => {
    for (const [what, values, messages] of BAD_VALUES) {
      for (const run of [templateChart, lintChart]) {
        const r = await run(major, { values: [values] })
        const out = r.stdout + r.stderr
        if (what === LINT_REPORTS_ONLY && run === lintChart) t.match(out, /\[INFO\] Fail|funcMap fail/, `${what} (lint): reported`)
        else t.not(r.code, 0, `${what} (${run.name}): fails`)
        for (const m of messages) t.match(out, m, `${what} (${run.name}): names ${m}`)
      }
    }
    // Control: the valid neighbours of those values render.
    for (const ok of [{ injector: { replicas: 3, timeoutSeconds: 30, tls: { existingSecret: 'mine', caBundle: 'QUJD' } } }, { networkPolicies: { enabled: false } }, { aggregator: { tokens: { signal: 'x'.repeat(20), admin: 'y'.repeat(20) }, config: { memory_signals: 1000 } } }]) {
      const r = await templateChart(major, { values: [ok] })
      t.equal(r.code, 0, `valid: ${JSON.stringify(ok)} ${r.stderr}`)
    }
  })
}

t.test('past --skip-schema-validation the templates still refuse what would break the webhook or the tokens', async (t) => {
  for (const major of HELM_MAJORS) {
    const skip = ['--skip-schema-validation']
    const noCa = await templateChart(major, { values: [{ injector: { tls: { existingSecret: 'mine' } } }], args: skip })
    t.not(noCa.code, 0)
    t.match(noCa.stderr, /injector\.tls\.caBundle: required with injector\.tls\.existingSecret/, `helm ${major}: a supplied certificate needs its CA`)
    const stray = await templateChart(major, { values: [{ injector: { tls: { caBundle: 'QUJD' } } }], args: skip })
    t.match(stray.stderr, /injector\.tls\.caBundle: set only together with injector\.tls\.existingSecret/, `helm ${major}: a CA without a certificate`)
    const same = await templateChart(major, { values: [{ aggregator: { tokens: { signal: 'x'.repeat(20), admin: 'x'.repeat(20) } } }], args: skip })
    t.match(same.stderr, /aggregator\.tokens: the signal and admin tokens must differ/, `helm ${major}: one token for both classes`)
    const both = await templateChart(major, { values: [{ aggregator: { tokens: { existingSecret: 'vault' }, signalTokenNamespaces: ['tools'] } }], args: skip })
    t.match(both.stderr, /aggregator\.tokens\.existingSecret: the tokens are that Secret's/, `helm ${major}: copies of a token the chart cannot read`)
    const unknown = await templateChart(major, { values: [{ injectr: {} }], args: skip })
    t.equal(unknown.code, 0, `helm ${major}: control: the flag does skip the schema`)
  }
})
