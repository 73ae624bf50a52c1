// k8s/admission.ts: every branch of reviewPod. Envelopes that are not admission.k8s.io/v1
// AdmissionReview requests (400, the bad field named, uid "" when none); requests outside pod
// CREATE passing unchanged (control: the same pod as a CREATE is patched); pods without the
// annotation; refusals (403 listing every path); a controller's pod (generateName, namespace only in
// the request) patched so that applying the patch gives exactly injectPodSpec's result, a valid Pod;
// dryRun answered the same; reinvocation idempotent, also after API-server defaulting (control: a
// sidecar weakened by another webhook is restored). A fast-check property over generated pods.
import t from 'tap'
import fc from 'fast-check'
import jsonPatch, { type Operation } from 'fast-json-patch'
import { Pod } from 'kubernetes-models/v1'
import { ADMISSION_API_VERSION, parseAdmissionReview, podWorkload, reviewPod, reviewResult, type AdmissionReview } from '../../k8s/admission.js'
import { ANNOTATION, SIDECAR_CONFIG_ENV, SIDECAR_CONTAINER, injectPodSpec } from '../../k8s/inject.js'

type Obj = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

const o = { sidecarImage: 'mcp-hangar/sidecar:test', aggregatorUrl: 'http://agg.mcp-hangar.svc:8000' }
const POD = { group: '', version: 'v1', kind: 'Pod' }
const PODS = { group: '', version: 'v1', resource: 'pods' }

/** A pod as a Deployment's ReplicaSet creates it: generateName only, no namespace in metadata. */
function deploymentPod(extra: Obj = {}): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: 'fetch-7d9c8b6f5-',
      labels: { app: 'fetch', 'pod-template-hash': '7d9c8b6f5' },
      annotations: { [ANNOTATION.inject]: 'true', [ANNOTATION.profile]: 'fetch' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'fetch-7d9c8b6f5', uid: 'a1', controller: true, blockOwnerDeletion: true }],
    },
    spec: { containers: [{ name: 'server', image: 'example/fetch:1', ports: [{ containerPort: 3000 }] }], ...extra },
  }
}

function review(object: unknown, req: Obj = {}): Obj {
  return { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', request: { uid: 'uid-1', kind: POD, resource: PODS, namespace: 'tools', operation: 'CREATE', userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' }, object, ...req } }
}

function patchOf(r: AdmissionReview): Operation[] {
  t.equal(r.response?.patchType, 'JSONPatch')
  return JSON.parse(Buffer.from(r.response!.patch!, 'base64').toString('utf8')) as Operation[]
}

const apply = (doc: Obj, ops: Operation[]): Obj => jsonPatch.applyPatch(structuredClone(doc), ops, true, false).newDocument

t.test('not an admission.k8s.io/v1 AdmissionReview request: refused 400, the field named, uid "" when there is none', async (t) => {
  const good = review(deploymentPod())
  const cases: Array<[string, unknown, string, RegExp]> = [
    ['an array', [good], '', /\(root\): expected an AdmissionReview object, got an array/],
    ['null', null, '', /got null/],
    ['a string', 'AdmissionReview', '', /got string/],
    ['v1beta1', { ...good, apiVersion: 'admission.k8s.io/v1beta1' }, 'uid-1', /apiVersion: expected "admission.k8s.io\/v1", got "admission.k8s.io\/v1beta1"/],
    ['another kind', { ...good, kind: 'TokenReview' }, 'uid-1', /kind: expected "AdmissionReview", got "TokenReview"/],
    ['no request', { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview' }, '', /request: is required/],
    ['no uid', { ...good, request: { ...good.request, uid: undefined } }, '', /request\.uid: is required/],
    ['an empty uid', { ...good, request: { ...good.request, uid: '' } }, '', /request\.uid: /],
    ['a numeric uid', { ...good, request: { ...good.request, uid: 7 } }, '', /request\.uid: expected string, got number/],
    ['a bad kind', { ...good, request: { ...good.request, kind: { group: '', kind: 'Pod' } } }, 'uid-1', /request\.kind\.version: is required/],
    ['no operation', { ...good, request: { ...good.request, operation: undefined } }, 'uid-1', /request\.operation: is required/],
    ['bad userInfo', { ...good, request: { ...good.request, userInfo: { groups: 'admins' } } }, 'uid-1', /request\.userInfo\.groups: expected array, got string/],
  ]
  for (const [name, body, uid, message] of cases) {
    const r = reviewPod(body, o)
    t.equal(r.apiVersion, ADMISSION_API_VERSION, `${name}: answered as a v1 AdmissionReview`)
    t.equal(r.kind, 'AdmissionReview')
    t.match(r.response, { uid, allowed: false, status: { code: 400, message } }, name)
    t.equal(r.response!.patch, undefined)
    t.equal(reviewResult(r), 'bad_request')
  }
  const both = parseAdmissionReview({ apiVersion: 'v1', kind: 'Pod', request: { uid: 'u' } })
  t.match(both, { ok: false, uid: 'u' })
  if (!both.ok) t.ok(['apiVersion', 'kind', 'request.kind', 'request.resource', 'request.operation', 'request.userInfo'].every((p) => both.errors.some((e) => e.path === p)), 'every bad field is listed, not only the first')
  t.match(reviewPod(good, o).response, { uid: 'uid-1', allowed: true, patchType: 'JSONPatch' }, 'control: the same review well formed is patched')
  t.equal(reviewResult({ apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response: { uid: 'u', allowed: false, status: { code: 500 } } }), 'bad_request', 'a failure of the webhook is not counted as a refused pod')
  t.equal(reviewResult({ apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview' }), 'bad_request', 'no response at all')
})

t.test('anything but a CREATE of core/v1 pods passes unchanged; control: the pod as a CREATE is patched', async (t) => {
  const pod = deploymentPod()
  const cases: Array<[string, Obj]> = [
    ['a Service', { kind: { group: '', version: 'v1', kind: 'Service' }, resource: { group: '', version: 'v1', resource: 'services' }, object: { apiVersion: 'v1', kind: 'Service', metadata: { name: 's', annotations: { [ANNOTATION.inject]: 'true' } }, spec: {} } }],
    ['a ConfigMap', { kind: { group: '', version: 'v1', kind: 'ConfigMap' }, resource: { group: '', version: 'v1', resource: 'configmaps' }, object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', annotations: { [ANNOTATION.inject]: 'true' } }, data: {} } }],
    ['a Deployment', { kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, resource: { group: 'apps', version: 'v1', resource: 'deployments' } }],
    ['a pod UPDATE', { operation: 'UPDATE', oldObject: pod }],
    ['a pod DELETE', { operation: 'DELETE', object: undefined, oldObject: pod }],
    ['a pod CONNECT', { operation: 'CONNECT' }],
    ['pods/status', { subResource: 'status' }],
    ['pods/ephemeralcontainers', { subResource: 'ephemeralcontainers' }],
    ['pods/binding', { subResource: 'binding', kind: { group: '', version: 'v1', kind: 'Binding' } }],
    ['a Pod of another version', { kind: { group: '', version: 'v2', kind: 'Pod' } }],
  ]
  for (const [name, req] of cases) {
    const r = reviewPod(review(pod, req), o)
    t.strictSame(r.response, { uid: 'uid-1', allowed: true }, `${name}: allowed, no patch`)
    t.equal(reviewResult(r), 'unchanged')
  }
  const control = reviewPod(review(pod), o)
  t.equal(reviewResult(control), 'patched', 'control: the same pod as a CREATE is patched')
})

t.test('a pod without mcp.hangar.io/inject: "true" passes unchanged; another value is refused', async (t) => {
  for (const annotations of [undefined, {}, { [ANNOTATION.inject]: 'false' }, { other: 'true' }]) {
    const pod = deploymentPod()
    if (annotations === undefined) delete pod.metadata.annotations
    else pod.metadata.annotations = annotations
    t.strictSame(reviewPod(review(pod), o).response, { uid: 'uid-1', allowed: true }, JSON.stringify(annotations))
  }
  const pod = deploymentPod()
  pod.metadata.annotations = { [ANNOTATION.inject]: 'yes' }
  t.match(reviewPod(review(pod), o).response, { allowed: false, status: { code: 403, message: /metadata\.annotations\.mcp\.hangar\.io\/inject: "yes": expected "true" or "false"/ } })
})

t.test('a pod that cannot be isolated is refused 403 with every refusal\'s path; control: without them it is patched', async (t) => {
  const bad = deploymentPod({ hostNetwork: true, volumes: [{ name: 'sock', hostPath: { path: '/var/run/docker.sock' } }] })
  bad.spec.containers[0].securityContext = { capabilities: { add: ['NET_ADMIN'] } }
  const r = reviewPod(review(bad), o)
  t.match(r.response, { uid: 'uid-1', allowed: false, status: { code: 403, reason: 'Forbidden' } })
  t.equal(r.response!.patch, undefined)
  const msg = r.response!.status!.message!
  t.match(msg, /^mcp-hangar cannot isolate pod tools\/fetch-7d9c8b6f5-\*: /, 'names the pod: namespace from the request, generateName')
  for (const p of ['spec.hostNetwork', 'spec.volumes[0].hostPath', 'spec.containers[0].securityContext.capabilities.add[0]']) t.match(msg, `${p}: `, p)
  t.match(msg, /node's network namespace/)
  t.equal(reviewResult(r), 'denied')
  t.equal(reviewResult(reviewPod(review(deploymentPod()), o)), 'patched', 'control')
})

t.test('a malformed pod object is a bad request naming the field', async (t) => {
  const noSpec = deploymentPod()
  delete noSpec.spec
  t.match(reviewPod(review(noSpec), o).response, { allowed: false, status: { code: 400, message: /request\.object\.spec: is required/ } })
  const numeric = deploymentPod()
  numeric.metadata.annotations[ANNOTATION.port] = 3000
  t.match(reviewPod(review(numeric), o).response, { allowed: false, status: { code: 400, message: /request\.object\.metadata\.annotations\.mcp\.hangar\.io\/port: expected string, got number/ } })
  t.match(reviewPod(review(undefined), o).response, { allowed: false, status: { code: 400, message: /request\.object: / } })
})

t.test('a controller\'s pod: the patch gives exactly the injection (configFrom env), a valid Pod; dryRun answers the same', async (t) => {
  const pod = deploymentPod()
  const r = reviewPod(review(pod), o)
  t.equal(r.response!.allowed, true)
  t.equal(r.response!.warnings, undefined, 'no notes, no warnings')
  const patched = apply(pod, patchOf(r))
  const want = injectPodSpec(pod.spec, pod.metadata.annotations, { ...o, configFrom: 'env' }, { spec: 'spec', metadata: 'metadata', workload: 'fetch' })
  t.strictSame(patched.spec, want.spec)
  t.strictSame(patched.metadata.annotations, want.annotations)
  t.strictSame(patched.metadata.ownerReferences, pod.metadata.ownerReferences, 'the rest of the pod untouched')
  t.equal(want.provider, 'fetch', 'the provider is named after the Deployment, not the ReplicaSet or the generated name')
  const sidecar = (patched.spec.initContainers as Obj[]).find((c) => c.name === SIDECAR_CONTAINER)!
  t.ok((sidecar.env as Obj[]).some((e) => e.name === SIDECAR_CONFIG_ENV && /fetch:/.test(e.value as string)), 'the config in the environment')
  t.notOk(JSON.stringify(patched).includes('configMap'), 'no ConfigMap that a webhook could not create')
  t.doesNotThrow(() => new Pod(patched as never).validate())
  t.throws(() => new Pod({ ...patched, spec: { ...patched.spec, containers: 'x' } } as never).validate(), 'control: the validator does reject a broken pod')
  const dry = reviewPod(review(pod, { dryRun: true }), o)
  t.strictSame(dry, r, 'dryRun: the same answer, nothing else happens')
  t.strictSame(pod, deploymentPod(), 'the review does not modify its input')
})

t.test('reinvocation: an injected pod gets no patch, also once the API server defaulted it; control: a weakened sidecar is restored', async (t) => {
  const pod = deploymentPod()
  const first = apply(pod, patchOf(reviewPod(review(pod), o)))
  t.strictSame(reviewPod(review(first), o).response, { uid: 'uid-1', allowed: true }, 'no patch, no warning')
  // what the API server adds when it defaults the patched pod (core/v1 SetDefaults_Container, _Probe)
  const defaulted = structuredClone(first)
  for (const c of [...defaulted.spec.initContainers, ...defaulted.spec.containers] as Obj[]) {
    Object.assign(c, { terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File', imagePullPolicy: 'IfNotPresent' })
    for (const p of ['startupProbe', 'livenessProbe', 'readinessProbe']) if (c[p]) c[p].successThreshold = 1
    // the ServiceAccount plugin, reinvoked after our patch, mounts the API token in the containers
    // that have none: ours (the provider's got it before the webhook ran)
    if (String(c.name).startsWith('mcp-hangar-')) c.volumeMounts = [...(c.volumeMounts ?? []), { name: 'kube-api-access-x7k2p', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }]
  }
  Object.assign(defaulted.spec, { restartPolicy: 'Always', dnsPolicy: 'ClusterFirst', schedulerName: 'default-scheduler', terminationGracePeriodSeconds: 30 })
  t.strictSame(reviewPod(review(defaulted), o).response, { uid: 'uid-1', allowed: true }, 'defaults are not undone')
  // another webhook changed the sidecar after us: the generated container comes back as generated
  const weakened = structuredClone(defaulted)
  const sc = (weakened.spec.initContainers as Obj[]).find((c) => c.name === SIDECAR_CONTAINER)!
  sc.securityContext.runAsUser = 0
  sc.command = ['sh', '-c', 'sleep infinity']
  sc.volumeMounts.push({ name: 'host', mountPath: '/host' })
  const again = reviewPod(review(weakened), o)
  t.equal(reviewResult(again), 'patched')
  t.match(again.response!.warnings, [/edited after injection/])
  const restored = apply(weakened, patchOf(again))
  const sidecar = (restored.spec.initContainers as Obj[]).find((c) => c.name === SIDECAR_CONTAINER)!
  t.equal(sidecar.securityContext.runAsUser, 65532)
  t.equal(sidecar.command, undefined, 'the command that would replace the sidecar is removed')
  t.notOk((sidecar.volumeMounts as Obj[]).some((m) => m.name === 'host'), 'a mount added by someone else is removed (only the token mount is tolerated)')
  t.strictSame(reviewPod(review(restored), o).response, { uid: 'uid-1', allowed: true }, 'and then it is stable')
})

t.test('podWorkload: the controller, a ReplicaSet without its hash, the name, generateName', async (t) => {
  t.equal(podWorkload({ generateName: 'web-5f-', labels: { 'pod-template-hash': '5f' }, ownerReferences: [{ kind: 'ReplicaSet', name: 'web-5f', controller: true }] }), 'web')
  t.equal(podWorkload({ name: 'db-0', ownerReferences: [{ kind: 'StatefulSet', name: 'db', controller: true }] }), 'db')
  t.equal(podWorkload({ generateName: 'rs-', ownerReferences: [{ kind: 'ReplicaSet', name: 'rs', controller: true }] }), 'rs', 'a bare ReplicaSet (no hash label) keeps its name')
  t.equal(podWorkload({ name: 'p', ownerReferences: [{ kind: 'Node', name: 'n' }] }), 'p', 'an owner that is not the controller does not count')
  t.equal(podWorkload({ generateName: 'tool--' }), 'tool')
  t.equal(podWorkload({}), undefined)
})

/** Mostly `usual`, sometimes one of `odd` (a value injection refuses or cannot use). */
const mostly = <T>(usual: T, ...odd: T[]) => fc.oneof({ weight: 6, arbitrary: fc.constant(usual) }, { weight: 1, arbitrary: fc.constantFrom(...odd) })
const podArb = fc.record({
  named: fc.boolean(),
  provider: mostly<string | undefined>(undefined, 'docs', 'Search-1', 'bad_name'),
  port: mostly<string | undefined>(undefined, '8080', '15901', 'x'),
  profile: mostly<string | undefined>(undefined, 'fetch', 'nope'),
  inject: mostly<string | undefined>('true', 'false', undefined),
  extraAnnotations: fc.dictionary(fc.constantFrom('a.example/x', 'b.example/y', 'note'), fc.string({ maxLength: 8 })),
  containers: fc.array(fc.record({
    ports: mostly<number[]>([], [8080], [15006], [8080, 9090]),
    user: mostly<number | undefined>(undefined, 1000, 65532),
    readOnly: fc.constantFrom(undefined, false),
  }), { minLength: 1, maxLength: 3 }).map(([first, ...rest]) => [{ ...first!, ports: first!.ports.length ? first!.ports : [8080] }, ...rest]),
  hostPID: mostly<boolean | undefined>(undefined, false, true),
})

t.test('property: applying the patch gives exactly injectPodSpec (configFrom env), a valid Pod; refusals are 403', async (t) => {
  const seen = { patched: 0, denied: 0, unchanged: 0 }
  fc.assert(fc.property(podArb, (g) => {
    const annotations: Record<string, string> = { ...g.extraAnnotations }
    if (g.inject !== undefined) annotations[ANNOTATION.inject] = g.inject
    if (g.provider !== undefined) annotations[ANNOTATION.provider] = g.provider
    if (g.port !== undefined) annotations[ANNOTATION.port] = g.port
    if (g.profile !== undefined) annotations[ANNOTATION.profile] = g.profile
    const pod: Obj = {
      apiVersion: 'v1', kind: 'Pod',
      metadata: { ...(g.named ? { name: 'tool-a' } : { generateName: 'tool-b-' }), annotations },
      spec: {
        ...(g.hostPID !== undefined && { hostPID: g.hostPID }),
        containers: g.containers.map((c, i) => ({
          name: `c${i}`, image: 'example/x:1',
          ...(c.ports.length && { ports: c.ports.map((p) => ({ containerPort: p })) }),
          ...((c.user !== undefined || c.readOnly !== undefined) && { securityContext: { ...(c.user !== undefined && { runAsUser: c.user }), ...(c.readOnly !== undefined && { readOnlyRootFilesystem: c.readOnly }) } }),
        })),
      },
    }
    const before = JSON.stringify(pod)
    const r = reviewPod(review(pod), o)
    if (JSON.stringify(pod) !== before) return false
    const want = injectPodSpec(pod.spec, annotations, { ...o, configFrom: 'env' }, { spec: 'spec', metadata: 'metadata', workload: g.named ? 'tool-a' : 'tool-b' })
    const result = reviewResult(r)
    seen[result as keyof typeof seen]++
    if (want.refusals.length) return result === 'denied' && want.refusals.every((x) => r.response!.status!.message!.includes(x.path))
    if (want.provider === undefined) return result === 'unchanged'
    if (result !== 'patched') return false
    const ops = JSON.parse(Buffer.from(r.response!.patch!, 'base64').toString('utf8')) as Operation[]
    const patched = apply(pod, ops)
    t.strictSame(patched, { ...pod, metadata: { ...pod.metadata, labels: { ...pod.metadata.labels, ...want.labels }, annotations: want.annotations }, spec: want.spec })
    new Pod(patched as never).validate()
    return reviewResult(reviewPod(review(patched), o)) === 'unchanged'
  }), { numRuns: 150, seed: 20261207 })
  t.ok(seen.patched > 10 && seen.denied > 10 && seen.unchanged > 5, `the generator reaches every outcome: ${JSON.stringify(seen)}`)
})

t.test('an injected pod\'s updates: debug containers hardened or refused, generated images fixed; control: a pod never injected passes', async (t) => {
  const created = deploymentPod()
  const injected = apply(created, patchOf(reviewPod(review(created), o)))
  t.ok((injected.metadata.annotations as Obj)[ANNOTATION.injected], 'the pod as created was injected')
  const withDebug = (c: Obj): Obj => ({ ...structuredClone(injected), spec: { ...structuredClone(injected.spec), ephemeralContainers: [{ name: 'debugger', image: 'busybox:1', targetContainerName: 'server', ...c }] } })
  const ephemeral = (object: Obj, oldObject: Obj = injected) => reviewPod(review(object, { operation: 'UPDATE', subResource: 'ephemeralcontainers', oldObject }), o)

  // kubectl debug's default container: the runtime's default capabilities (NET_RAW, SETUID), root
  const plain = withDebug({})
  const r = ephemeral(plain)
  t.equal(r.response!.allowed, true)
  const hardened = apply(plain, patchOf(r))
  const dbg = (hardened.spec.ephemeralContainers as Obj[])[0]!
  t.match(dbg.securityContext, { runAsNonRoot: true, runAsUser: 65534, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true, seccompProfile: { type: 'RuntimeDefault' } }, 'the debug container gets the provider hardening')
  t.match(r.response!.warnings, [/hardened/])
  t.doesNotThrow(() => new Pod(hardened as never).validate())
  t.same(hardened.spec.containers, injected.spec.containers, 'nothing else changes')
  t.equal(reviewResult(ephemeral(hardened)), 'unchanged', 'a hardened debug container gets no second patch')
  const own = withDebug({ securityContext: { capabilities: { drop: ['CHOWN'] } } })
  const ownDrop = ((apply(own, patchOf(ephemeral(own))).spec.ephemeralContainers as Obj[])[0]!.securityContext as Obj).capabilities as Obj
  t.same(ownDrop.drop, ['CHOWN', 'NET_RAW', 'SETUID', 'SETGID'], 'an own drop list loses NET_RAW, SETUID and SETGID too')

  const refused: Array<[string, Obj, RegExp]> = [
    ['kubectl debug --profile=netadmin', { securityContext: { capabilities: { add: ['NET_ADMIN', 'NET_RAW'] } } }, /spec\.ephemeralContainers\[0\]\.securityContext\.capabilities\.add\[0\]: NET_ADMIN.*capabilities\.add\[1\]: NET_RAW/],
    ['--profile=sysadmin (privileged)', { securityContext: { privileged: true } }, /spec\.ephemeralContainers\[0\]\.securityContext\.privileged/],
    ['the sidecar\'s uid', { securityContext: { runAsUser: 65532 } }, /spec\.ephemeralContainers\[0\]\.securityContext\.runAsUser: uid 65532/],
    ['privilege escalation', { securityContext: { allowPrivilegeEscalation: true } }, /allowPrivilegeEscalation/],
    ['a reserved name', { name: 'mcp-hangar-debug' }, /spec\.ephemeralContainers\[0\]\.name: "mcp-hangar-debug"/],
  ]
  for (const [name, c, why] of refused) {
    const d = ephemeral(withDebug(c))
    t.equal(d.response!.allowed, false, `${name}: refused`)
    t.equal(d.response!.status!.code, 403)
    t.match(d.response!.status!.message, why, name)
  }
  // A debug container added before this webhook watched (already in the old pod) is not judged again.
  const old = withDebug({ securityContext: { capabilities: { add: ['NET_ADMIN'] } } })
  const second = { ...structuredClone(old), spec: { ...structuredClone(old.spec), ephemeralContainers: [...(old.spec.ephemeralContainers as Obj[]), { name: 'second', image: 'busybox:1' }] } }
  const again = ephemeral(second, old)
  t.equal(again.response!.allowed, true, 'only new ephemeral containers are judged')
  t.same(patchOf(again).map((op) => op.path.split('/').slice(0, 4).join('/')).filter((p, i, a) => a.indexOf(p) === i), ['/spec/ephemeralContainers/1'], 'and only the new one is patched')

  // pod UPDATE: a generated container's image cannot be swapped; the provider's can
  const swapped = structuredClone(injected)
  ;(swapped.spec.initContainers as Obj[]).find((c) => c.name === SIDECAR_CONTAINER)!.image = 'evil/sidecar:1'
  const swap = reviewPod(review(swapped, { operation: 'UPDATE', oldObject: injected }), o)
  t.equal(swap.response!.allowed, false)
  t.match(swap.response!.status!.message, /spec\.initContainers\[1\]\.image: the image of mcp-hangar-sidecar cannot change/)
  const bump = structuredClone(injected)
  ;(bump.spec.containers as Obj[])[0]!.image = 'example/fetch-mcp:2'
  t.strictSame(reviewPod(review(bump, { operation: 'UPDATE', oldObject: injected }), o).response, { uid: 'uid-1', allowed: true }, "the provider's own image may change")

  // control: the same requests on a pod that was never injected pass untouched
  const plainPod = { ...structuredClone(created), spec: { ...structuredClone(created.spec), ephemeralContainers: [{ name: 'debugger', image: 'busybox:1', securityContext: { capabilities: { add: ['NET_ADMIN'] } } }] } }
  t.strictSame(ephemeral(plainPod, created).response, { uid: 'uid-1', allowed: true }, 'control: not ours, not judged')
})
