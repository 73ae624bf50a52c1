/**
 * Every PromQL expression in the Grafana dashboards and the alert rules is valid (promtool) and
 * reads only metrics the code really exports (the real registries of a sidecar, the aggregator,
 * the enterprise modules and the admission webhook); a made-up metric, a misspelt one, a histogram
 * read without its `_bucket` suffix, and a `__name__` matcher are caught (controls). The name
 * extractor itself is checked on the PromQL forms it must see through.
 */
import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { MONITORING, dashboardQueries, expandGrafanaVariables, exportedSeries, exportedSeriesNames, unknownLabels, promqlMetricNames, promtoolCheckExprs, type DashboardQuery } from '../helpers/monitoring.js'

const DASHBOARDS = join(MONITORING, 'grafana', 'dashboards')
const dashboards = readdirSync(DASHBOARDS).filter((f) => f.endsWith('.json')).map((f) => ({ file: f, json: JSON.parse(readFileSync(join(DASHBOARDS, f), 'utf8')) as Parameters<typeof dashboardQueries>[0] }))
const ruleExprs: DashboardQuery[] = (parse(readFileSync(join(MONITORING, 'prometheus', 'alerts.yaml'), 'utf8')) as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> })
  .groups.flatMap((g) => g.rules.map((r) => ({ where: `rule ${r.alert}`, expr: r.expr })))

/** The queries whose names are unknown: `where: name`. */
function unknown(queries: DashboardQuery[], known: Set<string>): string[] {
  return queries.flatMap((q) => promqlMetricNames(expandGrafanaVariables(q.expr)).filter((n) => !known.has(n)).map((n) => `${q.where}: ${n}`))
}

t.test('the extractor sees through PromQL forms', async (t) => {
  const cases: Array<[string, string[]]> = [
    ['up', ['up']],
    ['sum by (provider, violation_type) (increase(mcp_hangar_capability_violations_total{violation_type=~"a|b"}[5m])) > 20', ['mcp_hangar_capability_violations_total']],
    ['histogram_quantile(0.99, sum by (le) (rate(a_bucket{x="rate(b)"}[5m])))', ['a_bucket']],
    ['sum(rate(a[5m])) / sum(rate(b[5m] offset 1h)) * 60', ['a', 'b']],
    ['x and on (instance) y or ignoring(job) group_left(provider) z unless w', ['x', 'y', 'z', 'w']],
    ['topk(10, sum without (tool) (a)) > bool 1e3', ['a']],
    ['max_over_time(a[1h:5m])', ['a']],
    ['label_replace(a, "dst", "$1", "src", "(.*)")', ['a']],
    ['{__name__="made_up"}', ['__name__']],
    ['sum (a) by (job)', ['a']],
    ['a{job="x", provider=~"$provider"} == 1', ['a']],
    ["c{l='by (x) sum(y)'}", ['c']],
  ]
  for (const [expr, names] of cases) t.same(promqlMetricNames(expandGrafanaVariables(expr)).sort(), [...names].sort(), expr)
  t.equal(expandGrafanaVariables('rate(a[$__rate_interval]) + rate(b[${__interval}])'), 'rate(a[5m]) + rate(b[5m])')
})

t.test('the exported names come from the real registries, histograms expanded', async (t) => {
  const known = await exportedSeriesNames()
  for (const n of ['mcp_hangar_capability_violations_total', 'mcp_hangar_tool_call_duration_seconds_bucket', 'mcp_hangar_tool_call_duration_seconds_count', 'mcp_hangar_aggregator_signals_total', 'mcp_hangar_export_lag_signals', 'mcp_hangar_behavior_deviations_total', 'mcp_hangar_admission_reviews_total', 'mcp_hangar_aggregator_process_resident_memory_bytes', 'up']) t.ok(known.has(n), n)
  t.notOk(known.has('mcp_hangar_tool_call_duration_seconds'), 'a histogram has no series under its bare name')
})

t.test('the dashboards and the rules query only exported metrics', async (t) => {
  const known = await exportedSeriesNames()
  t.ok(dashboards.length >= 2, 'two dashboards at least')
  for (const d of dashboards) {
    const qs = dashboardQueries(d.json)
    t.ok(qs.length > 10, `${d.file}: ${qs.length} queries`)
    t.same(unknown(qs, known), [], `${d.file}: every metric exists`)
    for (const q of qs) t.ok(promqlMetricNames(expandGrafanaVariables(q.expr)).length > 0, `${d.file} ${q.where}: reads a metric`)
  }
  t.same(unknown(ruleExprs, known), [], 'alerts.yaml: every metric exists')
})

t.test('controls: a made-up, misspelt, bare-histogram or __name__ query is caught', async (t) => {
  const known = await exportedSeriesNames()
  const bad: DashboardQuery[] = [
    { where: 'made up', expr: 'sum(rate(mcp_hangar_made_up_total[5m]))' },
    { where: 'misspelt', expr: 'sum by (provider) (rate(mcp_hangar_capability_violation_total{provider=~"$provider"}[$__rate_interval]))' },
    { where: 'bare histogram', expr: 'histogram_quantile(0.9, rate(mcp_hangar_tool_call_duration_seconds[5m]))' },
    { where: 'name matcher', expr: 'sum(rate({__name__=~"mcp_hangar_.*"}[5m]))' },
  ]
  t.same(unknown(bad, known), ['made up: mcp_hangar_made_up_total', 'misspelt: mcp_hangar_capability_violation_total', 'bare histogram: mcp_hangar_tool_call_duration_seconds', 'name matcher: __name__'])
  // The same check over a real dashboard with one panel changed.
  const d = structuredClone(dashboards.find((x) => x.file === 'mcp-hangar-fleet.json')!.json) as { panels: Array<{ targets?: Array<{ expr: string }> }> }
  const p = d.panels.find((x) => x.targets?.length)!
  p.targets![0]!.expr = p.targets![0]!.expr.replace(/mcp_hangar_\w+/, 'mcp_hangar_not_a_metric')
  t.match(unknown(dashboardQueries(d), known), [/mcp_hangar_not_a_metric/], 'a changed panel fails the check')
})

t.test('the dashboards and the rules group, match and label legends only by labels their metrics carry', async (t) => {
  const series = await exportedSeries()
  t.ok(series.get('mcp_hangar_capability_violations_total')?.has('violation_type'), 'label names come from the registries')
  t.ok(series.get('mcp_hangar_tool_call_duration_seconds_bucket')?.has('le'), 'a histogram bucket carries le')
  t.ok(series.get('up')?.has('provider'), 'a sidecar target label')
  for (const d of dashboards) {
    const bad = dashboardQueries(d.json).flatMap((q) => unknownLabels(expandGrafanaVariables(q.expr), series, q.legend).map((l) => `${q.where}: ${l}`))
    t.same(bad, [], `${d.file}: every label exists`)
  }
  t.same(ruleExprs.flatMap((q) => unknownLabels(q.expr, series).map((l) => `${q.where}: ${l}`)), [], 'alerts.yaml: every label exists')
  // Controls: a misspelt matcher label, a grouping label no metric has, a legend naming one.
  t.same(unknownLabels('sum(rate(mcp_hangar_capability_violations_total{violation="x"}[5m]))', series), ['mcp_hangar_capability_violations_total: violation'])
  t.same(unknownLabels('sum by (provider, tool) (rate(mcp_hangar_egress_requests_total[5m]))', series), ['tool'])
  t.same(unknownLabels('sum by (sink) (mcp_hangar_export_lag_signals)', series, '{{sink}} {{reason}}'), ['reason'])
  t.same(unknownLabels('sum by (reason) (rate(mcp_hangar_signals_dropped_total{provider="p"}[5m]))', series), [], 'control: labels that exist pass')
})

t.test('promtool accepts every dashboard query and rejects a broken one (control)', async (t) => {
  const all = dashboards.flatMap((d) => dashboardQueries(d.json)).map((q) => expandGrafanaVariables(q.expr))
  const ok = await promtoolCheckExprs(all)
  t.equal(ok.code, 0, ok.stdout + ok.stderr)
  t.match(ok.stdout, new RegExp(`SUCCESS: ${all.length} rules found`))
  const broken = await promtoolCheckExprs([...all, 'sum by (provider (rate(mcp_hangar_tool_calls_total[5m]))'])
  t.not(broken.code, 0, 'an unbalanced query is refused')
  const typo = await promtoolCheckExprs(['rate(mcp_hangar_tool_calls_total)'])
  t.not(typo.code, 0, 'rate() of an instant vector is refused')
})

t.test('dashboard structure: templated data source, unique ids and uids, provisioning', async (t) => {
  const uids = new Set<string>()
  for (const { file, json } of dashboards) {
    const d = json as unknown as { uid: string; title: string; schemaVersion: number; templating: { list: Array<{ name: string; type: string; query: unknown }> }; panels: Array<{ id: number; type: string; datasource?: { type: string; uid: string }; targets?: Array<{ datasource?: { uid: string } }>; description?: string; gridPos: { w: number; x: number } }> }
    t.ok(d.uid && !uids.has(d.uid), `${file}: a unique uid`)
    uids.add(d.uid)
    t.ok(d.schemaVersion >= 39, `${file}: schemaVersion of a current Grafana`)
    t.same(d.templating.list.find((v) => v.name === 'datasource'), { ...d.templating.list.find((v) => v.name === 'datasource'), type: 'datasource', query: 'prometheus' }, `${file}: a Prometheus data source variable`)
    const ids = d.panels.map((p) => p.id)
    t.equal(new Set(ids).size, ids.length, `${file}: unique panel ids`)
    for (const p of d.panels.filter((x) => x.type !== 'row')) {
      t.same(p.datasource, { type: 'prometheus', uid: '${datasource}' }, `${file} ${p.id}: the templated data source`)
      for (const q of p.targets ?? []) t.equal(q.datasource?.uid, '${datasource}', `${file} ${p.id}: target on the templated data source`)
      t.ok(p.description, `${file} ${p.id}: a description`)
      t.ok(p.gridPos.x + p.gridPos.w <= 24, `${file} ${p.id}: fits the grid`)
    }
  }
  const prov = parse(readFileSync(join(MONITORING, 'grafana', 'provisioning', 'dashboards', 'mcp-hangar.yaml'), 'utf8')) as { apiVersion: number; providers: Array<{ type: string; options: { path: string } }> }
  t.equal(prov.apiVersion, 1)
  t.equal(prov.providers[0]?.type, 'file')
  const ds = parse(readFileSync(join(MONITORING, 'grafana', 'provisioning', 'datasources', 'prometheus.yaml'), 'utf8')) as { apiVersion: number; datasources: Array<{ type: string; url: string }> }
  t.equal(ds.datasources[0]?.type, 'prometheus')
})
