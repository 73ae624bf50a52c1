/**
 * The admission side of Kubernetes sidecar injection (`mcp-hangar k8s webhook`; the HTTPS server
 * is k8s/webhook.ts). Pure: an AdmissionReview in, an AdmissionReview out. The injection itself is
 * k8s/inject.ts {@link injectPodSpec}, the same function `k8s inject` runs, here with
 * `configFrom: 'env'`: a webhook must have no side effects (the API server may call it for a
 * dry run, retry it, or call it again in the same request), so it cannot create the ConfigMap
 * `k8s inject` writes; the sidecar's config travels in its environment instead.
 *
 * The wire format is `admission.k8s.io/v1` AdmissionReview, as the Kubernetes API reference
 * ("Dynamic Admission Control", and the admission.k8s.io/v1 AdmissionRequest / AdmissionResponse
 * types) defines it. A mutating answer carries `patchType: "JSONPatch"` and `patch`, the base64
 * of an RFC 6902 JSON Patch against the object the request carried.
 */
import jsonPatch, { type Operation } from 'fast-json-patch'
import { z } from 'zod'
import { ANNOTATION, RESERVED_PREFIX, guardInjectedPodUpdate, injectPodSpec, type InjectOptions } from './inject.js'

type Obj = Record<string, unknown>

/** The only AdmissionReview version this webhook speaks (register it with `admissionReviewVersions: ["v1"]`). */
export const ADMISSION_API_VERSION = 'admission.k8s.io/v1'

/** A group/version/kind (`group` is `""` for the core API). */
export interface GroupVersionKind {
  group: string
  version: string
  kind: string
}

/** A group/version/resource (`group` is `""` for the core API). */
export interface GroupVersionResource {
  group: string
  version: string
  resource: string
}

/** Who sent the request (authentication.k8s.io/v1 UserInfo). */
export interface UserInfo {
  username?: string
  uid?: string
  groups?: string[]
  extra?: Record<string, string[]>
}

/** admission.k8s.io/v1 AdmissionRequest. */
export interface AdmissionRequest {
  /** Identifies this admission call; the response must echo it. */
  uid: string
  /** The kind of `object` (converted to the version the webhook registered for). */
  kind: GroupVersionKind
  resource: GroupVersionResource
  /** e.g. `status`, `ephemeralcontainers`, `binding`; absent for the main resource. */
  subResource?: string
  /** The kind as the client sent it (may differ from `kind` with `matchPolicy: Equivalent`). */
  requestKind?: GroupVersionKind
  requestResource?: GroupVersionResource
  requestSubResource?: string
  /** Absent on CREATE when the client set only `generateName`. */
  name?: string
  namespace?: string
  /** `CREATE` | `UPDATE` | `DELETE` | `CONNECT`. */
  operation: string
  userInfo: UserInfo
  /** The object as it will be stored (CREATE, UPDATE). */
  object?: unknown
  /** The stored object (UPDATE, DELETE). */
  oldObject?: unknown
  /** True when nothing will be persisted; a webhook with side effects must then make none. */
  dryRun?: boolean
  /** CreateOptions, UpdateOptions or DeleteOptions. */
  options?: unknown
}

/** admission.k8s.io/v1 AdmissionResponse. */
export interface AdmissionResponse {
  /** The request's `uid`. */
  uid: string
  allowed: boolean
  /** Why a request was refused (metav1.Status subset): `code` is an HTTP status. */
  status?: { code?: number; message?: string; reason?: string }
  /** Only `JSONPatch` exists in v1. */
  patchType?: 'JSONPatch'
  /** base64 of an RFC 6902 JSON Patch. */
  patch?: string
  /** Shown to the client (kubectl prints them); the API server truncates long or many warnings. */
  warnings?: string[]
}

/** admission.k8s.io/v1 AdmissionReview: the request comes in `request`, the answer goes out in `response`. */
export interface AdmissionReview {
  apiVersion: typeof ADMISSION_API_VERSION
  kind: 'AdmissionReview'
  request?: AdmissionRequest
  response?: AdmissionResponse
}

const gvk = z.object({ group: z.string(), version: z.string(), kind: z.string() }).passthrough()
const gvr = z.object({ group: z.string(), version: z.string(), resource: z.string() }).passthrough()
// passthrough: fields added by later Kubernetes versions must not make the webhook refuse pods
const requestSchema = z.object({
  uid: z.string().min(1),
  kind: gvk,
  resource: gvr,
  subResource: z.string().optional(),
  requestKind: gvk.optional(),
  requestResource: gvr.optional(),
  requestSubResource: z.string().optional(),
  name: z.string().optional(),
  namespace: z.string().optional(),
  operation: z.string().min(1),
  userInfo: z.object({ username: z.string().optional(), uid: z.string().optional(), groups: z.array(z.string()).optional(), extra: z.record(z.array(z.string())).optional() }).passthrough(),
  object: z.unknown().optional(),
  oldObject: z.unknown().optional(),
  dryRun: z.boolean().optional(),
  options: z.unknown().optional(),
}).passthrough()

/** The pod fields injection reads; everything else is carried through untouched. */
const podSchema = z.object({
  metadata: z.object({
    name: z.string().optional(),
    generateName: z.string().optional(),
    namespace: z.string().optional(),
    annotations: z.record(z.string()).optional(),
    labels: z.record(z.string()).optional(),
    ownerReferences: z.array(z.object({ kind: z.string(), name: z.string(), controller: z.boolean().optional() }).passthrough()).optional(),
  }).passthrough(),
  spec: z.record(z.unknown()),
}).passthrough()

/** A parse failure: the field path (`request.kind.group`) and what is wrong there. */
export interface ReviewParseError {
  path: string
  message: string
}

const isObj = (x: unknown): x is Obj => x !== null && typeof x === 'object' && !Array.isArray(x)

function issues(err: z.ZodError, prefix: string): ReviewParseError[] {
  return err.issues.map((i) => ({
    path: [prefix, ...i.path].map((p, n) => (typeof p === 'number' ? `[${p}]` : n === 0 ? p : `.${p}`)).join(''),
    message: i.code === 'invalid_type' && i.received === 'undefined' ? 'is required' : i.code === 'invalid_type' ? `expected ${i.expected}, got ${i.received}` : i.message,
  }))
}

/**
 * Parses an AdmissionReview request (JSON already decoded).
 * @returns the typed request and its envelope's uid, or the errors, each naming its field path
 *   (`apiVersion`, `request.uid`, `request.kind.version`, …). `uid` is the request's uid when it
 *   could be read, else `""`.
 */
export function parseAdmissionReview(body: unknown): { ok: true; request: AdmissionRequest } | { ok: false; uid: string; errors: ReviewParseError[] } {
  if (!isObj(body)) return { ok: false, uid: '', errors: [{ path: '(root)', message: `expected an AdmissionReview object, got ${Array.isArray(body) ? 'an array' : body === null ? 'null' : typeof body}` }] }
  const req = body.request
  const uid = isObj(req) && typeof req.uid === 'string' ? req.uid : ''
  const errors: ReviewParseError[] = []
  if (body.apiVersion !== ADMISSION_API_VERSION) errors.push({ path: 'apiVersion', message: `expected "${ADMISSION_API_VERSION}", got ${JSON.stringify(body.apiVersion) ?? 'nothing'} (register the webhook with admissionReviewVersions: ["v1"])` })
  if (body.kind !== 'AdmissionReview') errors.push({ path: 'kind', message: `expected "AdmissionReview", got ${JSON.stringify(body.kind) ?? 'nothing'}` })
  if (!isObj(req)) errors.push({ path: 'request', message: req === undefined ? 'is required' : 'expected an object' })
  else {
    const r = requestSchema.safeParse(req)
    if (!r.success) errors.push(...issues(r.error, 'request'))
    else if (!errors.length) return { ok: true, request: r.data as AdmissionRequest }
  }
  return { ok: false, uid, errors }
}

/** How a review was answered: the `result` label of `mcp_hangar_admission_reviews_total`. */
export type ReviewResult = 'patched' | 'unchanged' | 'denied' | 'bad_request'

/** The outcome of a review, classified for metrics and logs (see {@link ReviewResult}): a refusal is `denied` only with code 403 (the pod cannot be isolated); 400 and 500 are `bad_request`. */
export function reviewResult(review: AdmissionReview): ReviewResult {
  const r = review.response
  if (!r || !r.allowed) return r?.status?.code === 403 ? 'denied' : 'bad_request'
  return r.patch !== undefined ? 'patched' : 'unchanged'
}

const answer = (response: AdmissionResponse): AdmissionReview => ({ apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response })

/**
 * The answer to a request that is not a readable AdmissionReview: refused, status 400. When the
 * request carries no uid, the answer carries `uid: ""`: the API server rejects a response whose uid
 * does not match, which for a request without a usable uid is the correct outcome (the call fails
 * and the webhook's `failurePolicy` decides), while the answer still tells a human what was wrong.
 */
export function badRequest(uid: string, message: string): AdmissionReview {
  return answer({ uid, allowed: false, status: { code: 400, reason: 'BadRequest', message } })
}

/**
 * The workload a pod belongs to, which names its provider unless `mcp.hangar.io/provider` does:
 * the controller's name (a ReplicaSet's without its `-<pod-template-hash>` suffix, so a
 * Deployment's pods get the Deployment's name), else the pod's name, else its `generateName`
 * without the trailing `-`. Pods created by controllers have only `generateName`.
 */
export function podWorkload(metadata: { name?: string; generateName?: string; labels?: Record<string, string>; ownerReferences?: Array<{ kind: string; name: string; controller?: boolean }> }): string | undefined {
  const owner = metadata.ownerReferences?.find((o) => o.controller === true)
  if (owner) {
    const hash = metadata.labels?.['pod-template-hash']
    return owner.kind === 'ReplicaSet' && hash && owner.name.endsWith(`-${hash}`) ? owner.name.slice(0, -hash.length - 1) : owner.name
  }
  if (metadata.name) return metadata.name
  return metadata.generateName?.replace(/-+$/, '') || undefined
}

/**
 * What the API server adds to the containers injection generated after our patch, before the
 * webhook is called again (`reinvocationPolicy: IfNeeded`): the fields of its defaulting
 * (container terminationMessagePath, terminationMessagePolicy, imagePullPolicy; probe
 * successThreshold; ConfigMap volume defaultMode: Kubernetes `SetDefaults_*` of core/v1), and the
 * ServiceAccount admission plugin's token mount (a volumeMount at {@link SERVICE_ACCOUNT_MOUNT}),
 * when the in-tree plugins are reinvoked after a webhook changed the pod.
 */
const DEFAULTED = /^\/spec\/(initContainers|containers)\/(\d+)\/(terminationMessagePath|terminationMessagePolicy|imagePullPolicy|(startupProbe|livenessProbe|readinessProbe)\/successThreshold|volumeMounts(?:\/(\d+))?)$|^\/spec\/volumes\/(\d+)\/configMap\/defaultMode$/

/** Where the ServiceAccount admission plugin mounts the API token in every container. */
const SERVICE_ACCOUNT_MOUNT = '/var/run/secrets/kubernetes.io/serviceaccount'

/** The JSON Pointer (RFC 6901, `/` escaped as `~1`) of the injected-template digest annotation. */
const DIGEST_PATH = `/metadata/annotations/${ANNOTATION.injected.replace(/~/g, '~0').replace(/\//g, '~1')}`

/** True for a patch operation that only removes an API-server default from an object injection generated. */
function removesDefault(op: Operation, pod: Obj): boolean {
  if (op.op !== 'remove') return false
  const m = DEFAULTED.exec(op.path)
  if (!m) return false
  const spec = pod.spec as Obj
  const list = m[1] !== undefined ? spec[m[1]] : spec.volumes
  const item = Array.isArray(list) ? (list[Number(m[2] ?? m[6])] as unknown) : undefined
  if (!(isObj(item) && typeof item.name === 'string' && item.name.startsWith(RESERVED_PREFIX))) return false
  if (!m[3]?.startsWith('volumeMounts')) return true
  const mounts = Array.isArray(item.volumeMounts) ? (item.volumeMounts as unknown[]) : []
  const removed = m[5] === undefined ? mounts : [mounts[Number(m[5])]]
  return removed.length > 0 && removed.every((x) => isObj(x) && x.mountPath === SERVICE_ACCOUNT_MOUNT)
}

/** A refusal (403) whose message lists every refusal's field path and reason after `what`. */
function forbidden(uid: string, what: string, refusals: ReadonlyArray<{ path: string; message: string }>): AdmissionReview {
  return answer({ uid, allowed: false, status: { code: 403, reason: 'Forbidden', message: `${what}: ${refusals.map((x) => `${x.path}: ${x.message}`).join('; ')}` } })
}

/**
 * A pod UPDATE or a `pods/ephemeralcontainers` UPDATE ({@link guardInjectedPodUpdate}): passes a
 * pod that was never injected; refuses (403, every reason) what would undo an injected pod's
 * isolation; else patches new ephemeral containers to the provider hardening, or allows unchanged.
 */
function reviewInjectedUpdate(req: AdmissionRequest): AdmissionReview {
  const allow = (): AdmissionReview => answer({ uid: req.uid, allowed: true })
  const now = podSchema.safeParse(req.object)
  const before = podSchema.safeParse(req.oldObject)
  if (!now.success) return badRequest(req.uid, `request.object is not a Pod: ${issues(now.error, 'request.object').map((e) => `${e.path}: ${e.message}`).join('; ')}`)
  if (!before.success || before.data.metadata.annotations?.[ANNOTATION.injected] === undefined) return allow()
  const g = guardInjectedPodUpdate(before.data.spec, now.data.spec)
  const where = `${req.namespace ?? ''}/${req.name ?? before.data.metadata.name ?? ''}`
  if (g.refusals.length) {
    return forbidden(req.uid, `mcp-hangar refuses this update of injected pod ${where}`, g.refusals)
  }
  const original = req.object as Obj
  const ops = jsonPatch.compare(original, { ...original, spec: g.spec })
  if (!ops.length) return allow()
  return answer({ uid: req.uid, allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(ops)).toString('base64'), warnings: ['mcp-hangar hardened the new ephemeral container(s) as it hardens provider containers (no capabilities, non-root, no privilege escalation)'] })
}

/**
 * Answers one AdmissionReview for the sidecar injection webhook.
 *
 * - Not `admission.k8s.io/v1` `AdmissionReview`, no `request`, no `request.uid`, or a malformed
 *   request → refused, code 400, the message naming every bad field (see {@link badRequest} for
 *   the uid of the answer).
 * - An UPDATE of `pods` or `pods/ephemeralcontainers` → {@link reviewInjectedUpdate}: for a pod
 *   that was injected, new ephemeral containers (`kubectl debug`) are hardened or refused, and a new
 *   image for a generated container is refused; any other pod passes.
 * - Anything else but a CREATE of core/v1 `pods` (no subresource) → allowed, no patch (a wider
 *   registration, `pods/binding`, `pods/status`): it passes through unchanged rather than be
 *   refused or rewritten.
 * - A pod without `mcp.hangar.io/inject: "true"` → allowed, no patch.
 * - A pod to inject → {@link injectPodSpec} with `configFrom: 'env'`: refusals → refused, code
 *   403, the message listing every refusal's field path and reason; else allowed with the JSON
 *   Patch from the pod as received to the injected pod (fast-json-patch `compare`), and the
 *   injection's notes as `warnings`.
 * - Idempotent: a pod already injected (the webhook called again in the same request,
 *   `reinvocationPolicy: IfNeeded`) gets no patch, also when the API server has since defaulted
 *   fields of the generated containers (see DEFAULTED); a pod whose generated parts were changed by
 *   another webhook gets them back as generated.
 * - `request.dryRun` changes nothing: this function has no side effects at all, ever (nothing is
 *   created, written or sent), so a dry run gets the same answer as the real request.
 *
 * @param review the decoded JSON body (anything; it is validated here).
 * @param options as for {@link injectPodSpec}; `configFrom` is always `env`.
 * @returns the AdmissionReview to send back (always `response`, never throws for bad input).
 */
export function reviewPod(review: unknown, options: Omit<InjectOptions, 'configFrom'>): AdmissionReview {
  const parsed = parseAdmissionReview(review)
  if (!parsed.ok) return badRequest(parsed.uid, `not an admission.k8s.io/v1 AdmissionReview request: ${parsed.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`)
  const req = parsed.request
  const allow = (): AdmissionReview => answer({ uid: req.uid, allowed: true })
  const isPod = req.kind.group === '' && req.kind.version === 'v1' && req.kind.kind === 'Pod'
  const isPods = req.resource.group === '' && req.resource.version === 'v1' && req.resource.resource === 'pods'
  const sub = req.subResource ?? ''
  if (isPod && isPods && req.operation === 'UPDATE' && (sub === '' || sub === 'ephemeralcontainers')) return reviewInjectedUpdate(req)
  if (!isPod || !isPods || sub !== '' || req.operation !== 'CREATE') return allow()
  const pod = podSchema.safeParse(req.object)
  if (!pod.success) return badRequest(req.uid, `request.object is not a Pod: ${issues(pod.error, 'request.object').map((e) => `${e.path}: ${e.message}`).join('; ')}`)
  const meta = pod.data.metadata
  const annotations = meta.annotations ?? {}
  const workload = podWorkload(meta)
  const r = injectPodSpec(pod.data.spec, annotations, { ...options, configFrom: 'env' }, { spec: 'spec', metadata: 'metadata', ...(workload !== undefined && { workload }) })
  const where = `${meta.namespace ?? req.namespace ?? 'default'}/${meta.name ?? req.name ?? `${meta.generateName ?? ''}*`}`
  if (r.refusals.length) {
    return forbidden(req.uid, `mcp-hangar cannot isolate pod ${where}`, r.refusals)
  }
  if (r.provider === undefined) return allow()
  const original = req.object as Obj
  const podMeta = original.metadata as Obj
  const mutated: Obj = { ...original, metadata: { ...podMeta, labels: { ...(podMeta.labels as Record<string, string> | undefined), ...r.labels }, annotations: r.annotations }, spec: r.spec }
  const ops = jsonPatch.compare(original, mutated)
  // the digest annotation follows the pod's spec, defaults included: alone it is no reason to patch
  if (ops.every((op) => removesDefault(op, original) || op.path === DIGEST_PATH)) return allow()
  return answer({
    uid: req.uid,
    allowed: true,
    patchType: 'JSONPatch',
    patch: Buffer.from(JSON.stringify(ops)).toString('base64'),
    ...(r.notes.length && { warnings: r.notes }),
  })
}
