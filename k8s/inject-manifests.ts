/**
 * `mcp-hangar k8s inject` over a multi-document YAML file (as `istioctl kube-inject` does): the
 * pod template of each Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job and CronJob goes
 * through {@link injectPodSpec} (k8s/inject.ts); every other document, and every comment and
 * separator between documents, is written back byte for byte, in its order.
 *
 * Each injected workload is followed by its generated ConfigMap (`mcp-hangar-<provider>`, key
 * `hangar.yaml`: the sidecar's config, in the workload's namespace, labelled
 * `mcp.hangar.io/generated: "true"`). Generated ConfigMaps found in the input are dropped and
 * built again, so injecting twice gives the same file; one whose content differs from what would
 * be generated was edited by hand, which the result notes.
 *
 * Every emitted workload and ConfigMap is validated against the Kubernetes OpenAPI schema
 * (`kubernetes-models`); an object that fails is refused rather than written.
 */
import { CST, Composer, Parser, stringify, type Document } from 'yaml'
import { ConfigMap, Pod } from 'kubernetes-models/v1'
import { DaemonSet, Deployment, ReplicaSet, StatefulSet } from 'kubernetes-models/apps/v1'
import { CronJob, Job } from 'kubernetes-models/batch/v1'
import { injectPodSpec, type InjectOptions, type Refusal } from './inject.js'

type Obj = Record<string, unknown>
const isObj = (x: unknown): x is Obj => x !== null && typeof x === 'object' && !Array.isArray(x)

/** The label on generated ConfigMaps. */
export const GENERATED_LABEL = 'mcp.hangar.io/generated'

interface Kind {
  apiVersion: string
  /** Path of the pod template (`[]` for a Pod, whose template is the object itself). */
  template: string[]
  validate: (o: Obj) => void
}

/** The kinds with a pod template, their API version and the template's path. */
const KINDS: Record<string, Kind> = {
  Pod: { apiVersion: 'v1', template: [], validate: (o) => new Pod(o as never).validate() },
  Deployment: { apiVersion: 'apps/v1', template: ['spec', 'template'], validate: (o) => new Deployment(o as never).validate() },
  StatefulSet: { apiVersion: 'apps/v1', template: ['spec', 'template'], validate: (o) => new StatefulSet(o as never).validate() },
  DaemonSet: { apiVersion: 'apps/v1', template: ['spec', 'template'], validate: (o) => new DaemonSet(o as never).validate() },
  ReplicaSet: { apiVersion: 'apps/v1', template: ['spec', 'template'], validate: (o) => new ReplicaSet(o as never).validate() },
  Job: { apiVersion: 'batch/v1', template: ['spec', 'template'], validate: (o) => new Job(o as never).validate() },
  CronJob: { apiVersion: 'batch/v1', template: ['spec', 'jobTemplate', 'spec', 'template'], validate: (o) => new CronJob(o as never).validate() },
}

/** One workload that was injected. */
export interface InjectedWorkload {
  kind: string
  name: string
  provider: string
  configMap: string
}

/** The result of {@link injectManifests}: with refusals, `text` is the input unchanged. */
export interface ManifestsInjection {
  text: string
  injected: InjectedWorkload[]
  refusals: Refusal[]
  notes: string[]
}

function get(o: unknown, path: string[]): unknown {
  let cur = o
  for (const k of path) cur = isObj(cur) ? cur[k] : undefined
  return cur
}

function stringAnnotations(a: unknown, where: string, refusals: Refusal[]): Record<string, string> {
  const out: Record<string, string> = {}
  if (a === undefined || a === null) return out
  if (!isObj(a)) {
    refusals.push({ path: where, message: 'annotations must be a mapping' })
    return out
  }
  for (const [k, v] of Object.entries(a)) {
    if (typeof v !== 'string') refusals.push({ path: `${where}.${k}`, message: `annotation values are strings; quote it ("${String(v)}")` })
    else out[k] = v
  }
  return out
}

/**
 * Injects every opted-in pod template of a multi-document YAML text (see the file comment).
 * @param text the manifests (YAML 1.2, as kubectl reads them).
 * @param options as {@link injectPodSpec}.
 * @returns the new text, what was injected, and every refusal (field paths prefixed with
 *   `<Kind>/<name> (document N)`, N from 1) and note. Never throws for bad input: a document
 *   that is not valid YAML is a refusal.
 */
export function injectManifests(text: string, options: InjectOptions): ManifestsInjection {
  const refusals: Refusal[] = []
  const notes: string[] = []
  const injected: InjectedWorkload[] = []
  const out: string[] = []
  const generatedSeen = new Map<string, string>()
  const configMapsMade = new Map<string, string>()
  /** JSON of the `data` of each ConfigMap generated now, by namespace/name. */
  const generatedData = new Map<string, string>()
  let n = 0
  for (const tok of new Parser().parse(text)) {
    const src = CST.stringify(tok)
    if (tok.type !== 'document') {
      out.push(src)
      continue
    }
    n++
    const composer = new Composer()
    const docs = [...composer.next(tok), ...composer.end()]
    const doc = docs[0] as Document.Parsed | undefined
    if (!doc) {
      out.push(src)
      continue
    }
    if (doc.errors.length) {
      refusals.push({ path: `document ${n}`, message: `not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}` })
      out.push(src)
      continue
    }
    const js = doc.toJS() as unknown
    if (!isObj(js)) {
      out.push(src)
      continue
    }
    const kind = String(js.kind ?? '')
    const name = String(get(js, ['metadata', 'name']) ?? '')
    const namespace = get(js, ['metadata', 'namespace'])
    const label = `${kind}/${name} (document ${n})`
    if (kind === 'ConfigMap' && get(js, ['metadata', 'labels', GENERATED_LABEL]) === 'true') {
      generatedSeen.set(`${String(namespace ?? '')}/${name}`, JSON.stringify(get(js, ['data'])))
      continue // rebuilt below, after its workload
    }
    const k = KINDS[kind]
    if (!k) {
      out.push(src)
      continue
    }
    const tpl = get(js, k.template)
    const specPath = [...k.template, 'spec']
    const metaPath = [...k.template, 'metadata']
    const dotted = (p: string[]) => p.join('.')
    if (!isObj(tpl) || !isObj(get(js, specPath))) {
      out.push(src)
      continue
    }
    const localRefusals: Refusal[] = []
    const annotations = stringAnnotations(get(js, [...metaPath, 'annotations']), `${dotted(metaPath)}.annotations`, localRefusals)
    if (annotations['mcp.hangar.io/inject'] === undefined) {
      out.push(src)
      continue
    }
    if (js.apiVersion !== k.apiVersion) localRefusals.push({ path: 'apiVersion', message: `"${String(js.apiVersion)}": a ${kind} is injected as ${k.apiVersion}` })
    const r = injectPodSpec(get(js, specPath) as Obj, annotations, options, { spec: dotted(specPath), metadata: dotted(metaPath), ...(name && { workload: name }) })
    for (const x of [...localRefusals, ...r.refusals]) refusals.push({ path: `${label} ${x.path}`, message: x.message })
    notes.push(...r.notes.map((x) => `${label} ${x}`))
    if (localRefusals.length || r.refusals.length || !r.provider) {
      out.push(src)
      continue
    }
    doc.setIn(specPath, doc.createNode(r.spec, { aliasDuplicateObjects: false }))
    doc.setIn([...metaPath, 'annotations'], doc.createNode(r.annotations, { aliasDuplicateObjects: false }))
    for (const [k, v] of Object.entries(r.labels ?? {})) doc.setIn([...metaPath, 'labels', k], v)
    const cmKey = `${String(namespace ?? '')}/${r.configMapName!}`
    if (configMapsMade.has(cmKey)) {
      refusals.push({ path: `${label} ${dotted(metaPath)}.annotations.mcp.hangar.io/provider`, message: `provider "${r.provider}" is also injected by ${configMapsMade.get(cmKey)!} in this namespace: each workload needs its own provider name` })
      out.push(src)
      continue
    }
    configMapsMade.set(cmKey, `${kind}/${name}`)
    const configMap: Obj = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: r.configMapName, ...(typeof namespace === 'string' && { namespace }), labels: { [GENERATED_LABEL]: 'true', 'mcp.hangar.io/provider': r.provider } },
      data: { 'hangar.yaml': stringify(r.config, { lineWidth: 0 }) },
    }
    try {
      k.validate(doc.toJS() as Obj)
      new ConfigMap(configMap as never).validate()
    } catch (err) {
      refusals.push({ path: label, message: `the injected object does not validate against the Kubernetes schema: ${(err as Error).message.split('\n').slice(0, 3).join('; ')}` })
      out.push(src)
      continue
    }
    let body = doc.toString({ lineWidth: 0 })
    if (!doc.directives?.docStart && n > 1) body = `---\n${body}`
    out.push(body)
    out.push(`---\n${stringify(configMap, { lineWidth: 0 })}`)
    generatedData.set(cmKey, JSON.stringify(configMap.data))
    injected.push({ kind, name, provider: r.provider, configMap: r.configMapName! })
  }
  if (refusals.length) return { text, injected: [], refusals, notes }
  for (const [key, data] of generatedSeen) {
    const name = key.replace(/^\//, '')
    if (!generatedData.has(key)) notes.push(`ConfigMap ${name}: generated by an earlier injection but no workload injects it now; dropped`)
    else if (data !== generatedData.get(key)) notes.push(`ConfigMap ${name}: edited after injection; rebuilt from its workload's annotations`)
  }
  return { text: joinDocuments(out), injected, refusals, notes }
}

/** Concatenates document texts, each chunk starting on a line of its own. */
function joinDocuments(chunks: string[]): string {
  let text = ''
  for (const c of chunks) {
    if (text && !text.endsWith('\n') && c.startsWith('---')) text += '\n'
    text += c
  }
  return text
}
