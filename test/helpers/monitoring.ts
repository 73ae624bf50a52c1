/**
 * Helpers for the monitoring tests: the metric names the code really exports (built from the real
 * registries), the metric names a PromQL expression reads, the queries of a Grafana dashboard, and
 * promtool runs.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Registry } from 'prom-client'
import { stringify } from 'yaml'
import { createAdmissionMetrics, createMetrics, markEnterpriseFeatureDisabled } from '../../core/metrics.js'
import { createAggregatorMetrics } from '../../aggregator/metrics.js'
import { runCommand, runModule, type NodeRun } from './child.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** The repository's monitoring/ folder. */
export const MONITORING = fileURLToPath(new URL('../../monitoring/', import.meta.url))

/** Series Prometheus itself writes for every scrape target. */
const SCRAPE_SERIES = ['up', 'scrape_duration_seconds', 'scrape_samples_scraped', 'scrape_samples_post_metric_relabeling', 'scrape_series_added']
/** Labels Prometheus adds to every scraped series (the job and the target). */
const TARGET_LABELS = ['job', 'instance']

/** Series name → its label names. */
export type SeriesLabels = Map<string, Set<string>>

/**
 * Adds one metric's series to `out`: a histogram expands to `_bucket` (with `le`), `_sum` and
 * `_count`, a summary to its bare name (with `quantile`), `_sum` and `_count` (Prometheus text
 * exposition format). `extra` labels are the ones the scrape adds.
 */
function addMetric(out: SeriesLabels, name: string, type: string, labelNames: readonly string[], extra: readonly string[]): void {
  const base = [...labelNames, ...TARGET_LABELS, ...extra]
  const put = (series: string, more: string[] = []) => out.set(series, new Set([...(out.get(series) ?? []), ...base, ...more]))
  if (type === 'histogram') { put(`${name}_bucket`, ['le']); put(`${name}_sum`); put(`${name}_count`) }
  else if (type === 'summary') { put(name, ['quantile']); put(`${name}_sum`); put(`${name}_count`) }
  else put(name)
}

/** Adds the series of `registry` to `out`. */
async function addRegistry(out: SeriesLabels, registry: Registry, extra: readonly string[]): Promise<void> {
  for (const m of await registry.getMetricsAsJSON()) {
    const labelNames = (registry.getSingleMetric(m.name) as unknown as { labelNames?: string[] }).labelNames ?? []
    addMetric(out, m.name, String(m.type), labelNames, extra)
  }
}

/**
 * The series the enterprise modules register (deviation detection on a sidecar's registry, SIEM
 * export on the aggregator's), from their real metric factories in a child node: only the tests
 * under test/enterprise/ may import enterprise/, so the names cross as JSON on stdout.
 * @returns `[name, type, labelNames, registry]` per metric
 */
async function enterpriseMetrics(): Promise<Array<[string, string, string[], 'sidecar' | 'aggregator']>> {
  const src = `
    import { Registry } from 'prom-client'
    import { deviationMetrics } from './enterprise/behavioral/metrics.ts'
    import { exportMetrics } from './enterprise/compliance/metrics.ts'
    const list = async (r, where) => (await r.getMetricsAsJSON()).map((m) => [m.name, String(m.type), r.getSingleMetric(m.name).labelNames ?? [], where])
    const sidecar = new Registry()
    deviationMetrics(sidecar)
    const aggregator = new Registry()
    exportMetrics(aggregator)
    process.stdout.write(JSON.stringify([...await list(sidecar, 'sidecar'), ...await list(aggregator, 'aggregator')]))
  `
  const run = await runModule(src, ROOT)
  if (run.code !== 0) throw new Error(`enterprise metric names: ${run.err}`)
  return JSON.parse(run.out) as Array<[string, string, string[], 'sidecar' | 'aggregator']>
}

/**
 * Every series the code exports with its label names, from the registries a sidecar (with
 * deviation detection), the aggregator (with SIEM export) and the admission webhook build, plus
 * Prometheus's own per-target series (`up`, ...). A sidecar's series also carry `provider`, the
 * label each sidecar target is given (monitoring/prometheus/prometheus.yaml). Built once.
 */
export function exportedSeries(): Promise<SeriesLabels> {
  exported ??= collectExported()
  return exported
}
let exported: Promise<SeriesLabels> | undefined

/** The names of {@link exportedSeries}. */
export async function exportedSeriesNames(): Promise<Set<string>> {
  return new Set((await exportedSeries()).keys())
}

async function collectExported(): Promise<SeriesLabels> {
  const out: SeriesLabels = new Map()
  for (const n of SCRAPE_SERIES) addMetric(out, n, 'gauge', [], ['provider'])
  const sidecar = createMetrics({ processMetrics: true })
  markEnterpriseFeatureDisabled(sidecar.registry, 'deviation')
  await addRegistry(out, sidecar.registry, ['provider'])
  await addRegistry(out, createAggregatorMetrics().registry, [])
  await addRegistry(out, createAdmissionMetrics().registry, [])
  for (const [name, type, labels, where] of await enterpriseMetrics()) addMetric(out, name, type, labels, where === 'sidecar' ? ['provider'] : [])
  return out
}

/**
 * The labels a PromQL expression names that no series it reads carries: a matcher's label not on
 * its selector's metric, and a grouping label (`by`, `without`, `on`, `ignoring`, `group_left`,
 * `group_right`) or a `{{label}}` of `legend` on none of the expression's metrics. `__name__` is
 * always allowed. Returns `metric: label` or `label` strings.
 */
export function unknownLabels(expr: string, series: SeriesLabels, legend = ''): string[] {
  const s = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
  const out: string[] = []
  const names = promqlMetricNames(expr).filter((n) => n !== '__name__')
  for (const m of s.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}/g)) {
    const have = series.get(m[1]!)
    if (!have) continue
    for (const l of m[2]!.matchAll(/([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)/g)) if (l[1] !== '__name__' && !have.has(l[1]!)) out.push(`${m[1]}: ${l[1]}`)
  }
  const any = new Set(names.flatMap((n) => [...(series.get(n) ?? [])]))
  const grouped = [...s.matchAll(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g)].flatMap((m) => m[1]!.split(',').map((x) => x.trim()).filter(Boolean))
  const legendLabels = [...legend.matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1]!)
  for (const l of [...grouped, ...legendLabels]) if (l !== '__name__' && !any.has(l)) out.push(l)
  return out
}

const KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'inf', 'nan', 'atan2'])

/**
 * The metric names a PromQL expression selects (Prometheus querying basics: a selector is a name
 * optionally followed by `{matchers}`, or `{__name__=...}`). Strings, label matchers, ranges and
 * subqueries, grouping label lists, numbers and durations are removed first; what is left as an
 * identifier not followed by `(` and not a keyword is a metric name. A `__name__` matcher is
 * returned as `__name__` so a caller can refuse it. The expression must be valid PromQL (check it
 * with {@link promtoolCheckExprs}).
 */
export function promqlMetricNames(expr: string): string[] {
  let s = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
  const nameMatcher = /\{[^}]*__name__[^}]*\}/.test(s)
  s = s
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/#.*$/gm, ' ')
  const out = new Set<string>()
  if (nameMatcher) out.add('__name__')
  const token = /(\d[\w.]*|0x[0-9a-f]+)|([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g
  for (const m of s.matchAll(token)) {
    if (m[1] !== undefined || m[2] === undefined || m[3] !== undefined) continue
    if (KEYWORDS.has(m[2].toLowerCase())) continue
    out.add(m[2])
  }
  return [...out]
}

/** One query of a dashboard: where it is (panel title and refId, or variable name) and its PromQL. */
export interface DashboardQuery {
  where: string
  expr: string
  /** A panel target's `legendFormat` (`{{label}}` placeholders). */
  legend?: string
}

interface Panel { title?: string; type?: string; targets?: Array<{ refId?: string; expr?: string; legendFormat?: string }>; panels?: Panel[] }
interface Dashboard { panels?: Panel[]; templating?: { list?: Array<{ name: string; type: string; query?: unknown; definition?: string }> } }

/**
 * Every PromQL query of a Grafana dashboard: panel targets (rows' nested panels included) and
 * `label_values(metric, label)` / `query_result(expr)` variables, the latter as the PromQL they run.
 */
export function dashboardQueries(d: Dashboard): DashboardQuery[] {
  const out: DashboardQuery[] = []
  const walk = (ps: Panel[] | undefined): void => {
    for (const p of ps ?? []) {
      for (const t of p.targets ?? []) if (t.expr !== undefined) out.push({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr, ...(t.legendFormat !== undefined && { legend: t.legendFormat }) })
      walk(p.panels)
    }
  }
  walk(d.panels)
  for (const v of d.templating?.list ?? []) {
    if (v.type !== 'query') continue
    const q = typeof v.query === 'string' ? v.query : (v.query as { query?: string } | undefined)?.query ?? ''
    const lv = /^label_values\((?:(.+),\s*)?(\w+)\)$/.exec(q.trim())
    const qr = /^query_result\((.+)\)$/.exec(q.trim())
    if (lv) out.push({ where: `variable ${v.name}`, expr: lv[1] ?? 'up' })
    else if (qr) out.push({ where: `variable ${v.name}`, expr: qr[1]! })
    else out.push({ where: `variable ${v.name}`, expr: q })
  }
  return out
}

/**
 * Replaces Grafana's template variables with values PromQL accepts: `$__rate_interval`,
 * `$__interval`, `$__range` (and their `${...}` forms) by `5m`, any other `$var` by `x`.
 */
export function expandGrafanaVariables(expr: string): string {
  return expr
    .replace(/\$\{?__(rate_interval|interval|range)\}?/g, '5m')
    .replace(/\$\{?\w+(?::\w+)?\}?/g, 'x')
}

/** The promtool binary (Debian's `prometheus` package), or undefined when it is not installed. */
export async function promtoolPath(): Promise<string | undefined> {
  const r = await runCommand('sh', ['-c', 'command -v promtool'], { timeoutMs: 10_000 })
  return r.code === 0 ? r.stdout.trim() : undefined
}

/** Runs `promtool ...args` (60 s timeout). */
export function promtool(args: string[], cwd?: string): Promise<NodeRun> {
  return runCommand('promtool', args, { ...(cwd !== undefined && { cwd }) })
}

/**
 * Checks the syntax of PromQL expressions with `promtool check rules`: each becomes a recording
 * rule of a temporary rules file, removed afterwards.
 */
export async function promtoolCheckExprs(exprs: string[]): Promise<NodeRun> {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-promql-'))
  try {
    const file = join(dir, 'queries.yaml')
    writeFileSync(file, stringify({ groups: [{ name: 'queries', rules: exprs.map((expr, i) => ({ record: `query:${i}`, expr })) }] }))
    return await promtool(['check', 'rules', file])
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
