/**
 * A real Prometheus (Debian's `prometheus`, on loopback, its own temp data dir, killed at the end)
 * scrapes a real `mcp-hangar aggregator` and a real `mcp-hangar egress` sidecar with the shipped
 * alert rules loaded. The sidecar is made to deny DNS queries (outside the allowlist, and past the
 * tunnelling budget of a wildcard rule); then: both targets are up, every dashboard query runs
 * without error over the HTTP API, the panels about those denials return them, every rule
 * evaluates without error, and McpHangarDnsExfiltrationSuspected fires naming the provider; once
 * the sidecar is stopped, McpHangarSidecarDown is pending for it (and not before). A control job
 * without honor_labels shows why the sidecar job needs it (the series' provider is overwritten).
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { parse, stringify } from 'yaml'
import { ControlPlane, PROVIDER } from '../fixtures/control-plane/rig.js'
import { makeQuery, udpQuery } from '../helpers/dns-server.js'
import { freePort } from '../helpers/mcp.js'
import { MONITORING, dashboardQueries, promtoolPath } from '../helpers/monitoring.js'

interface Sample { metric: Record<string, string>; value: [number, string] }
interface Answer { status: string; error?: string; data: { result: Sample[] } }

/** Grafana's variables as a dashboard with every provider selected would send them. */
function grafanaExpand(expr: string): string {
  return expr.replace(/\$\{?__(rate_interval|interval|range)\}?/g, '1m').replace(/\$\{?provider\}?/g, '.*')
}

t.test('a real Prometheus scrapes a real aggregator and sidecar; panels and alerts work on real metrics', async (t) => {
  t.ok(await promtoolPath(), 'the prometheus package is installed')
  const cp = await ControlPlane.create(t)
  // The rig's provider, plus a wildcard rule with a tunnelling budget of 2 names per window.
  const config = join(cp.dir, 'hangar-wild.yaml')
  writeFileSync(config, readFileSync(cp.config, 'utf8').replace('egress: [{ host: api.example.com }]', 'subdomain_budget: { max_names: 2 }\n        egress: [{ host: api.example.com }, { host: "*.tunnel.example.com" }]'))
  await cp.startAggregator()
  const sidecar = await cp.startSidecar('sidecar', config)

  const dir = mkdtempSync(join(tmpdir(), 'hangar-prom-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const port = await freePort()
  writeFileSync(join(dir, 'prometheus.yaml'), stringify({
    global: { scrape_interval: '1s', evaluation_interval: '1s' },
    rule_files: [join(MONITORING, 'prometheus', 'alerts.yaml')],
    scrape_configs: [
      { job_name: 'mcp-hangar-aggregator', static_configs: [{ targets: [`127.0.0.1:${cp.port}`] }] },
      { job_name: 'mcp-hangar-sidecar', honor_labels: true, static_configs: [{ targets: [`127.0.0.1:${sidecar.adminPort}`], labels: { provider: PROVIDER } }] },
      // Control for honor_labels: the same sidecar, a different target label, one metric kept.
      { job_name: 'control-without-honor-labels', static_configs: [{ targets: [`127.0.0.1:${sidecar.adminPort}`], labels: { provider: 'other' } }], metric_relabel_configs: [{ source_labels: ['__name__'], regex: 'mcp_hangar_signals_emitted_total', action: 'keep' }] },
    ],
  }))
  const prom = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yaml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let promLog = ''
  prom.stderr.on('data', (b: Buffer) => (promLog += String(b)))
  const exited = new Promise<void>((resolve) => prom.once('exit', () => resolve()))
  t.teardown(async () => {
    prom.kill('SIGTERM')
    await Promise.race([exited, sleep(10_000).then(() => prom.kill('SIGKILL'))])
  })
  const base = `http://127.0.0.1:${port}`
  const query = async (q: string): Promise<Answer> => (await (await fetch(`${base}/api/v1/query?${new URLSearchParams({ query: q })}`)).json()) as Answer
  const until = async <T>(what: string, f: () => Promise<T | undefined>, ms = 30_000): Promise<T> => {
    for (const end = Date.now() + ms; Date.now() < end; await sleep(250)) {
      const v = await f().catch(() => undefined)
      if (v !== undefined) return v
    }
    throw new Error(`timed out waiting for ${what}; prometheus log: ${promLog}`)
  }
  await until('prometheus ready', async () => ((await fetch(`${base}/-/ready`)).status === 200 ? true : undefined))
  const up = await until('both targets up', async () => {
    const r = (await query('up{job=~"mcp-hangar-.*"} == 1')).data.result
    return r.length === 2 ? r : undefined
  })
  t.same(up.map((s) => s.metric.job).sort(), ['mcp-hangar-aggregator', 'mcp-hangar-sidecar'], 'the aggregator and the sidecar are scraped')

  // Denials, in rounds so that counters rise between scrapes (increase() needs two samples).
  let n = 0
  const deny = async () => {
    for (let i = 0; i < 3; i++) await udpQuery(sidecar.dnsPort, makeQuery(`x${n++}.tunnel.example.com`)).catch(() => undefined)
    await udpQuery(sidecar.dnsPort, makeQuery(`denied${n++}.example.net`)).catch(() => undefined)
  }
  const firing = await until('McpHangarDnsExfiltrationSuspected firing', async () => {
    await deny()
    const r = (await (await fetch(`${base}/api/v1/alerts`)).json()) as { data: { alerts: Array<{ state: string; labels: Record<string, string>; annotations: Record<string, string> }> } }
    return r.data.alerts.find((a) => a.labels.alertname === 'McpHangarDnsExfiltrationSuspected' && a.state === 'firing')
  }, 60_000)
  t.equal(firing.labels.provider, PROVIDER, 'the alert names the provider')
  t.equal(firing.labels.violation_type, 'dns_tunnel_suspected')
  t.equal(firing.labels.severity, 'critical')
  t.match(firing.annotations.description, `provider ${PROVIDER}`, 'its description names the provider')
  await sleep(2500)

  // Every dashboard query runs on the real metrics; the ones about the denials return them.
  const files = readdirSync(join(MONITORING, 'grafana', 'dashboards')).filter((f) => f.endsWith('.json'))
  let withData = 0
  let total = 0
  for (const f of files) {
    for (const q of dashboardQueries(JSON.parse(readFileSync(join(MONITORING, 'grafana', 'dashboards', f), 'utf8')) as Parameters<typeof dashboardQueries>[0])) {
      const a = await query(grafanaExpand(q.expr))
      t.equal(a.status, 'success', `${f} ${q.where}: ${a.error ?? 'runs'}`)
      total++
      if (a.data.result.length > 0) {
        withData++
        t.comment(`${f} ${q.where}: ${a.data.result.slice(0, 4).map((x) => `${JSON.stringify(x.metric)} ${x.value[1]}`).join('; ')}`)
      }
    }
  }
  t.comment(`${withData} of ${total} dashboard queries returned series from the real stack`)
  const byType = (await query(grafanaExpand('sum by (violation_type) (rate(mcp_hangar_capability_violations_total{provider=~"$provider"}[$__rate_interval]))'))).data.result
  t.same(byType.map((s) => s.metric.violation_type).sort(), ['dns_denied', 'dns_tunnel_suspected'], 'Violations by type shows both denials')
  const dns = (await query(grafanaExpand('sum by (decision) (rate(mcp_hangar_dns_queries_total{provider=~"$provider"}[$__rate_interval]))'))).data.result
  t.ok(dns.some((s) => s.metric.decision === 'blocked' && Number(s.value[1]) > 0), 'DNS queries by decision shows blocked queries')
  const states = (await query('max by (provider, state) (mcp_hangar_provider_state{provider=~".*"}) == 1')).data.result
  t.ok(states.every((s) => s.metric.provider === PROVIDER), 'the provider state table names the provider')
  const received = (await query('sum by (outcome) (rate(mcp_hangar_aggregator_signals_total[1m]))')).data.result
  t.ok(received.some((s) => s.metric.outcome === 'accepted' && Number(s.value[1]) > 0), 'the aggregator accepted the signals of the denials')
  // The sidecar's own provider label is kept, not renamed exported_provider (honor_labels).
  t.same((await query('count({exported_provider!="", job=~"mcp-hangar-.*"})')).data.result, [], 'no series has exported_provider')
  const renamed = (await query('mcp_hangar_signals_emitted_total{job="control-without-honor-labels"}')).data.result
  t.ok(renamed.length > 0 && renamed.every((x) => x.metric.exported_provider === PROVIDER && x.metric.provider === 'other'), 'control: without honor_labels the target label overwrites the series\' provider')
  t.ok((await query(`mcp_hangar_signals_emitted_total{provider="${PROVIDER}"}`)).data.result.length > 0, 'the sidecar series carry provider')
  // Control: a metric the code does not export returns nothing from the same stack.
  t.same((await query('mcp_hangar_not_a_metric_total')).data.result, [], 'control: a made-up metric has no series')

  // Every rule evaluates without error on the real series.
  const rules = (await (await fetch(`${base}/api/v1/rules`)).json()) as { data: { groups: Array<{ rules: Array<{ name: string; health: string; lastError?: string }> }> } }
  const all = rules.data.groups.flatMap((g) => g.rules)
  const shipped = (parse(readFileSync(join(MONITORING, 'prometheus', 'alerts.yaml'), 'utf8')) as { groups: Array<{ rules: unknown[] }> }).groups.flatMap((g) => g.rules)
  t.equal(all.length, shipped.length, `the ${shipped.length} alert rules are loaded`)
  for (const r of all) t.equal(r.health, 'ok', `${r.name} evaluates${r.lastError ? `: ${r.lastError}` : ''}`)
  const pending = async (name: string) => {
    const r = (await (await fetch(`${base}/api/v1/alerts`)).json()) as { data: { alerts: Array<{ state: string; labels: Record<string, string> }> } }
    return r.data.alerts.find((a) => a.labels.alertname === name)
  }
  t.equal(await pending('McpHangarSidecarDown'), undefined, 'control: no McpHangarSidecarDown while the sidecar runs')

  // The sidecar stops: its scrape fails, and McpHangarSidecarDown becomes pending (for: 2m) naming the provider.
  await sidecar.proc.stop('SIGTERM')
  const down = await until('McpHangarSidecarDown pending', () => pending('McpHangarSidecarDown'))
  t.equal(down.state, 'pending', 'pending until its for: has passed')
  t.equal(down.labels.provider, PROVIDER, 'the down sidecar is named by its provider')
  t.equal(down.labels.instance, `127.0.0.1:${sidecar.adminPort}`)
  t.equal(await pending('McpHangarAggregatorDown'), undefined, 'the aggregator is still up')
})
