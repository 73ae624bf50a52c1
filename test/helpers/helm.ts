/**
 * Helm for tests: a Helm 3 or Helm 4 binary (scripts/helm.mjs: from the npm registry, checked and
 * cached) and the chart `charts/mcp-hangar` rendered to plain objects.
 *
 * ```ts
 * const docs = await renderChart(4, { values: [{ injector: { replicas: 3 } }], namespace: 'mcp-hangar' })
 * const webhook = docs.find((d) => d.kind === 'MutatingWebhookConfiguration')
 * ```
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseAllDocuments, stringify } from 'yaml'
import { helmBinary } from '../../scripts/helm.mjs'

export type HelmMajor = 3 | 4
export const HELM_MAJORS: readonly HelmMajor[] = [3, 4]

/** A rendered Kubernetes object (kind, apiVersion, metadata, ...). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type K8sObject = Record<string, any>

/** The chart's folder. */
export const CHART_DIR = fileURLToPath(new URL('../../charts/mcp-hangar/', import.meta.url))

/** The path of a ready Helm binary of that major version (the first call may download it: tens of MB, seconds). */
export function helmPath(major: HelmMajor): string {
  return helmBinary(major)
}

/** What one Helm run printed and how it ended. */
export interface HelmRun {
  code: number
  stdout: string
  stderr: string
}

/** Runs `helm <args>` (no kube cluster involved unless the args ask), 60 s at most. Never throws for a non-zero exit. */
export function runHelm(major: HelmMajor, args: string[], env: NodeJS.ProcessEnv = {}): Promise<HelmRun> {
  const bin = helmPath(major)
  // Helm keeps its own config and cache under HOME / XDG dirs: point them at a temp folder.
  const home = mkdtempSync(join(tmpdir(), 'hangar-helm-home-'))
  return new Promise((resolve) => {
    execFile(bin, args, {
      timeout: 60_000, maxBuffer: 32 * 1024 * 1024,
      env: { PATH: process.env.PATH, HOME: home, HELM_CACHE_HOME: join(home, 'cache'), HELM_CONFIG_HOME: join(home, 'config'), HELM_DATA_HOME: join(home, 'data'), KUBECONFIG: join(home, 'no-kubeconfig'), ...env },
    }, (err, stdout, stderr) => {
      rmSync(home, { recursive: true, force: true })
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0
      resolve({ code, stdout, stderr })
    })
  })
}

/** How to render or lint the chart. */
export interface ChartOptions {
  /** Values, each written to a values file and passed with `-f` in order (later ones win). */
  values?: Record<string, unknown>[]
  /** Release namespace. Default `mcp-hangar`. */
  namespace?: string
  /** Release name. Default `hangar`. */
  release?: string
  /** More helm arguments (e.g. `--set`). */
  args?: string[]
}

/** Runs `helm <command> … CHART_DIR` with values files written to a temp folder (removed after). */
async function withValues(major: HelmMajor, command: string[], o: ChartOptions): Promise<HelmRun> {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-chart-values-'))
  try {
    const files = (o.values ?? []).map((v, i) => {
      const f = join(dir, `values-${i}.yaml`)
      writeFileSync(f, stringify(v))
      return f
    })
    return await runHelm(major, [...command, CHART_DIR, '--namespace', o.namespace ?? 'mcp-hangar', ...files.flatMap((f) => ['-f', f]), ...(o.args ?? [])])
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** `helm template` of the chart, as it ran (stdout is the manifests). */
export function templateChart(major: HelmMajor, o: ChartOptions = {}): Promise<HelmRun> {
  return withValues(major, ['template', o.release ?? 'hangar'], o)
}

/** `helm lint --strict` of the chart, as it ran. */
export function lintChart(major: HelmMajor, o: ChartOptions = {}): Promise<HelmRun> {
  return withValues(major, ['lint', '--strict'], o)
}

/** Multi-document YAML → objects (empty documents dropped). @throws Error on a YAML error. */
export function parseManifests(text: string): K8sObject[] {
  const out: K8sObject[] = []
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) throw new Error(`rendered YAML: ${doc.errors[0]!.message}`)
    const js = doc.toJS() as unknown
    if (js !== null && js !== undefined) out.push(js as K8sObject)
  }
  return out
}

/**
 * The chart rendered by `helm template` to objects.
 * @throws Error with Helm's stderr when it fails.
 */
export async function renderChart(major: HelmMajor, o: ChartOptions = {}): Promise<K8sObject[]> {
  const r = await templateChart(major, o)
  if (r.code !== 0) throw new Error(`helm ${major} template failed (exit ${r.code}): ${r.stderr.trim()}`)
  return parseManifests(r.stdout)
}

/** The one object of that kind (and name, when given). @throws Error when there is not exactly one. */
export function only(docs: K8sObject[], kind: string, name?: string): K8sObject {
  const found = docs.filter((d) => d.kind === kind && (name === undefined || d.metadata?.name === name))
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`)
  return found[0]!
}

/**
 * Kubernetes label selector semantics (matchLabels AND matchExpressions: In, NotIn, Exists,
 * DoesNotExist); an absent selector selects everything.
 */
export function selects(sel: K8sObject | undefined, labels: Record<string, string>): boolean {
  if (!sel) return true
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false
  for (const e of sel.matchExpressions ?? []) {
    const has = e.key in labels
    if (e.operator === 'In' && !(has && e.values.includes(labels[e.key]))) return false
    if (e.operator === 'NotIn' && has && e.values.includes(labels[e.key])) return false
    if (e.operator === 'Exists' && !has) return false
    if (e.operator === 'DoesNotExist' && has) return false
  }
  return true
}
