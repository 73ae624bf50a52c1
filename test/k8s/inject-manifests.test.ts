// k8s/inject-manifests.ts: a multi-document file: the pod template of each of the seven kinds
// found and injected (the output validated with kubernetes-models), other kinds and unannotated
// workloads written back byte for byte with their comments and order, the generated ConfigMap
// after its workload, idempotency, an edited or orphaned ConfigMap noticed, refusals prefixed with
// the document, and bad YAML or a wrong apiVersion refused.
import t from 'tap'
import { parse, parseAllDocuments } from 'yaml'
import { ConfigMap } from 'kubernetes-models/v1'
import { Deployment } from 'kubernetes-models/apps/v1'
import { ANNOTATION, SIDECAR_CONTAINER } from '../../k8s/inject.js'
import { GENERATED_LABEL, injectManifests } from '../../k8s/inject-manifests.js'

type Obj = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

const o = { sidecarImage: 'mcp-hangar/sidecar:test', aggregatorUrl: 'http://agg.mcp-hangar.svc:8000' }

const POD_SPEC = `
      annotations:
        mcp.hangar.io/inject: "true"
    spec:
      containers:
        - name: server
          image: example/mcp:1
          ports: [{containerPort: 3000}]`

/** Each kind, with the path of its pod template. */
const WORKLOADS: Array<[string, string, string[]]> = [
  ['Pod', `apiVersion: v1\nkind: Pod\nmetadata:\n  name: w\n  annotations:\n    mcp.hangar.io/inject: "true"\nspec:\n  containers:\n    - name: server\n      image: example/mcp:1\n      ports: [{containerPort: 3000}]\n`, []],
  ...(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet'].map((k) => [k, `apiVersion: apps/v1\nkind: ${k}\nmetadata:\n  name: w\nspec:\n  selector: {matchLabels: {app: w}}\n${k === 'StatefulSet' ? '  serviceName: w\n' : ''}  template:\n    metadata:\n      labels: {app: w}${POD_SPEC}\n`, ['spec', 'template']] as [string, string, string[]])),
  ['Job', `apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: w\nspec:\n  template:\n    metadata:${POD_SPEC}\n      restartPolicy: Never\n`, ['spec', 'template']],
  ['CronJob', `apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: w\nspec:\n  schedule: "*/5 * * * *"\n  jobTemplate:\n    spec:\n      template:\n        metadata:\n          annotations:\n            mcp.hangar.io/inject: "true"\n        spec:\n          restartPolicy: Never\n          containers:\n            - name: server\n              image: example/mcp:1\n              ports: [{containerPort: 3000}]\n`, ['spec', 'jobTemplate', 'spec', 'template']],
]

const at = (o: Obj, path: string[]): Obj => path.reduce((x, k) => x[k], o)

for (const [kind, text, path] of WORKLOADS) {
  t.test(`${kind}: its pod template is injected, the ConfigMap follows, both validate`, async (t) => {
    const r = injectManifests(text, o)
    t.strictSame(r.refusals, [])
    t.strictSame(r.injected, [{ kind, name: 'w', provider: 'w', configMap: 'mcp-hangar-w' }])
    const docs = parseAllDocuments(r.text).map((d) => d.toJS() as Obj)
    t.equal(docs.length, 2)
    t.equal(docs[0]!.kind, kind)
    const tpl = at(docs[0]!, path)
    t.strictSame(tpl.spec.initContainers.map((c: Obj) => c.name), ['mcp-hangar-init', SIDECAR_CONTAINER])
    t.match(tpl.metadata.annotations, { [ANNOTATION.injected]: /^[0-9a-f]{16}$/ })
    if (tpl.metadata.labels?.app !== undefined) t.strictSame(tpl.metadata.labels, { app: 'w', 'mcp.hangar.io/provider': 'w' }, 'the pod gets the provider label (what k8s networkpolicy selects); its own labels stay')
    else t.equal(tpl.metadata.labels['mcp.hangar.io/provider'], 'w', 'the pod gets the provider label')
    t.match(docs[1], { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'mcp-hangar-w', labels: { [GENERATED_LABEL]: 'true' } } })
    t.match(parse(docs[1]!.data['hangar.yaml']), { providers: { w: { endpoint: 'http://127.0.0.1:3000/mcp' } } })
    t.doesNotThrow(() => new ConfigMap(docs[1] as never).validate())
    t.equal(injectManifests(r.text, o).text, r.text, 'injecting again is a no-op')
  })
}

const MIXED = `# the app's manifests
apiVersion: v1
kind: Service   # keep me
metadata: {name: web, namespace: tools}
spec:
  ports: [ {port: 80,   targetPort: 3000} ]
---
# unannotated: left alone
apiVersion: apps/v1
kind: Deployment
metadata: {name: plain}
spec:
  selector: {matchLabels: {app: plain}}
  template:
    metadata: {labels: {app: plain}}
    spec:
      containers: [{name: c, image: x}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: search
  namespace: tools
spec:
  selector: {matchLabels: {app: search}}
  template:
    metadata:
      labels: {app: search}
      annotations: {mcp.hangar.io/inject: "true", mcp.hangar.io/profile: fetch}
    spec:
      containers: [{name: server, image: example/search:1, ports: [{containerPort: 8080}]}]
---
kind: Secret
apiVersion: v1
metadata: {name: s}
stringData: {token: "abc"}   # after
`

t.test('other kinds, unannotated workloads, comments and order are kept byte for byte', async (t) => {
  const r = injectManifests(MIXED, o)
  t.strictSame(r.refusals, [])
  const parts = MIXED.split(/^---\n/m)
  t.ok(r.text.startsWith(`${parts[0]}---\n${parts[1]}---\n`), 'the Service and the plain Deployment, comments and odd spacing included')
  t.ok(r.text.endsWith(`---\n${parts[3]}`), 'the Secret, still last, its trailing comment kept')
  const docs = parseAllDocuments(r.text).map((d) => d.toJS() as Obj)
  t.strictSame(docs.map((d) => `${d.kind}/${d.metadata.name}`), ['Service/web', 'Deployment/plain', 'Deployment/search', 'ConfigMap/mcp-hangar-search', 'Secret/s'])
  t.equal(docs[3]!.metadata.namespace, 'tools', "the ConfigMap is in its workload's namespace")
  t.doesNotThrow(() => new Deployment(docs[2] as never).validate())
  t.equal(injectManifests(r.text, o).text, r.text, 'idempotent')
  t.strictSame(injectManifests(r.text, o).notes, [])
})

t.test('an edited generated ConfigMap is rebuilt and noted; an orphaned one is dropped and noted', async (t) => {
  const r = injectManifests(MIXED, o)
  const cm = r.text.indexOf('kind: ConfigMap')
  const edited = r.text.slice(0, cm) + r.text.slice(cm).replace('profile: fetch\n', 'profile: everything\n')
  t.not(edited, r.text)
  const e = injectManifests(edited, o)
  t.equal(e.text, r.text, 'rebuilt from the annotations')
  t.match(e.notes, [/ConfigMap tools\/mcp-hangar-search: edited after injection/])
  const orphan = r.text.replace('mcp.hangar.io/inject: "true"', 'mcp.hangar.io/inject: "false"')
  const x = injectManifests(orphan, o)
  t.notMatch(x.text, /kind: ConfigMap/)
  t.match(x.notes, [/no workload injects it now; dropped/])
})

t.test('refusals name the document; nothing is injected when any document is refused', async (t) => {
  const bad = `${MIXED}---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\n  annotations: {mcp.hangar.io/inject: "true"}\nspec:\n  hostPID: true\n  containers: [{name: a, image: x, ports: [{containerPort: 1}]}]\n`
  const r = injectManifests(bad, o)
  t.match(r.refusals, [{ path: 'Pod/bad (document 5) spec.hostPID', message: /remove hostPID/ }])
  t.equal(r.text, bad)
  t.strictSame(r.injected, [])
})

t.test('bad input is refused, never thrown: broken YAML, wrong apiVersion, non-string annotation, duplicate provider', async (t) => {
  t.match(injectManifests('a: [1,\n', o).refusals, [{ path: 'document 1', message: /not valid YAML/ }])
  const old = WORKLOADS[1]![1].replace('apps/v1', 'extensions/v1beta1')
  t.match(injectManifests(old, o).refusals, [{ path: 'Deployment/w (document 1) apiVersion', message: /injected as apps\/v1/ }])
  const num = WORKLOADS[0]![1].replace('mcp.hangar.io/inject: "true"', 'mcp.hangar.io/inject: "true"\n    mcp.hangar.io/port: 3000')
  t.match(injectManifests(num, o).refusals, [{ path: 'Pod/w (document 1) metadata.annotations.mcp.hangar.io/port', message: /quote it/ }])
  const twice = `${WORKLOADS[0]![1]}---\n${WORKLOADS[1]![1]}`
  t.match(injectManifests(twice, o).refusals, [{ path: /Deployment\/w \(document 2\)/, message: /also injected by Pod\/w/ }])
  const twoNamespaces = `${WORKLOADS[0]![1]}---\n${WORKLOADS[1]![1].replace('  name: w\n', '  name: w\n  namespace: other\n')}`
  t.strictSame(injectManifests(twoNamespaces, o).refusals, [], 'the same provider name in two namespaces is fine')
})
