/**
 * monitoring/prometheus: the alert rules pass `promtool check rules`, their unit tests pass
 * `promtool test rules` (each alert fires on its input series and stays quiet on a control), the
 * unit tests really bite (a weakened rule makes them fail), every alert has a firing case and a
 * quiet case, a `severity`, a summary and a description naming what it is about, and the example
 * scrape configuration passes `promtool check config`. promtool missing is a failure, not a skip.
 */
import t from 'tap'
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse } from 'yaml'
import { MONITORING, promtool, promtoolPath } from '../helpers/monitoring.js'

const PROM = join(MONITORING, 'prometheus')

interface Rule { alert?: string; record?: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }
const rules: Rule[] = (parse(readFileSync(join(PROM, 'alerts.yaml'), 'utf8')) as { groups: Array<{ rules: Rule[] }> }).groups.flatMap((g) => g.rules)
const alerts = rules.filter((r) => r.alert !== undefined)

interface UnitTest { name: string; alert_rule_test: Array<{ alertname: string; exp_alerts: Array<{ exp_labels: Record<string, string> }> }> }
const unit = parse(readFileSync(join(PROM, 'alerts.test.yaml'), 'utf8')) as { rule_files: string[]; tests: UnitTest[] }

t.test('promtool is installed (Debian package prometheus)', async (t) => {
  t.ok(await promtoolPath(), 'promtool on PATH: apt-get install prometheus')
})

t.test('promtool check rules accepts alerts.yaml', async (t) => {
  const r = await promtool(['check', 'rules', 'alerts.yaml'], PROM)
  t.equal(r.code, 0, r.stdout + r.stderr)
  t.match(r.stdout, new RegExp(`SUCCESS: ${rules.length} rules found`))
})

t.test('promtool check rules refuses a broken rule (control)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-rules-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'bad.yaml'), readFileSync(join(PROM, 'alerts.yaml'), 'utf8').replace('max by (provider) (mcp_hangar_quarantined) == 1', 'max by (provider) (mcp_hangar_quarantined == 1'))
  const r = await promtool(['check', 'rules', 'bad.yaml'], dir)
  t.not(r.code, 0, 'an unbalanced parenthesis is refused')
})

t.test('promtool test rules: every alert fires on its input and stays quiet on its control', async (t) => {
  const r = await promtool(['test', 'rules', 'alerts.test.yaml'], PROM)
  t.equal(r.code, 0, r.stdout + r.stderr)
  t.match(r.stdout, /SUCCESS/)
})

t.test('the unit tests bite: a weakened or silenced rule fails them', async (t) => {
  const cases: Array<[string, string, string, RegExp]> = [
    ['threshold raised', 'increase(mcp_hangar_capability_violations_total[5m])) > 20', 'increase(mcp_hangar_capability_violations_total[5m])) > 60', /McpHangarViolationSpike fires/],
    ['for: dropped (fires on a blip)', 'for: 2m\n        labels:\n          severity: warning\n        annotations:\n          summary: "Provider {{ $labels.provider }}: {{ $value | humanize }}', 'labels:\n          severity: warning\n        annotations:\n          summary: "Provider {{ $labels.provider }}: {{ $value | humanize }}', /McpHangarViolationSpike stays quiet/],
    ['wrong job', 'up{job="mcp-hangar-sidecar"} == 0', 'up{job="sidecar"} == 0', /McpHangarSidecarDown fires/],
    ['overflow packets forgotten', '\n          or sum by (provider) (increase(mcp_hangar_egress_bypass_overflow_packets_total[5m])) > 0', '', /McpHangarEgressBypassAttempt fires/],
    ['provider missing from the description', 'Provider {{ $labels.provider }} is DEAD', 'A provider is DEAD', /McpHangarProviderDead fires/],
    ['secret alert narrowed to a spike', 'violation_type="secret_in_arguments"}[5m])) > 0', 'violation_type="secret_in_arguments"}[5m])) > 5', /McpHangarSecretInArguments fires/],
    ['auth refusals counted for every reason', 'reason=~"auth|origin"}[5m])) > 20', 'reason=~".+"}[5m])) > 20', /McpHangarIngressAuthFailures stays quiet/],
    ['severity changed', 'severity: critical\n        annotations:\n          summary: "Provider {{ $labels.provider }} is quarantined"', 'severity: warning\n        annotations:\n          summary: "Provider {{ $labels.provider }} is quarantined"', /McpHangarProviderQuarantined fires/],
  ]
  for (const [what, from, to, failing] of cases) {
    const dir = mkdtempSync(join(tmpdir(), 'hangar-rules-'))
    try {
      cpSync(join(PROM, 'alerts.test.yaml'), join(dir, 'alerts.test.yaml'))
      const src = readFileSync(join(PROM, 'alerts.yaml'), 'utf8')
      t.ok(src.includes(from), `${what}: the rule text to change is there`)
      writeFileSync(join(dir, 'alerts.yaml'), src.replace(from, to))
      const r = await promtool(['test', 'rules', 'alerts.test.yaml'], dir)
      t.not(r.code, 0, `${what}: promtool test rules fails`)
      t.match(r.stdout + r.stderr, failing, `${what}: the failing case is the one about it`)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }
})

t.test('every alert has a firing case and a quiet case in alerts.test.yaml', async (t) => {
  t.same(unit.rule_files, ['alerts.yaml'])
  const fires = new Set<string>()
  const quiet = new Set<string>()
  for (const u of unit.tests) for (const a of u.alert_rule_test) (a.exp_alerts.length ? fires : quiet).add(a.alertname)
  for (const a of alerts) {
    t.ok(fires.has(a.alert!), `${a.alert} fires in a case`)
    t.ok(quiet.has(a.alert!), `${a.alert} stays quiet in a control`)
  }
  const names = new Set(alerts.map((a) => a.alert))
  for (const n of [...fires, ...quiet]) t.ok(names.has(n), `unit test alert ${n} is a rule`)
})

t.test('the alert classes the operator needs are all there', async (t) => {
  const names = alerts.map((a) => a.alert!)
  for (const need of ['McpHangarViolationSpike', 'McpHangarProviderQuarantined', 'McpHangarEgressBypassAttempt', 'McpHangarDnsExfiltrationSuspected', 'McpHangarSecretInArguments', 'McpHangarIngressAuthFailures', 'McpHangarAccessDeniedSpike', 'McpHangarAdminAuditFailing', 'McpHangarProviderDead', 'McpHangarCircuitOpen', 'McpHangarSignalsDropped', 'McpHangarExportLag', 'McpHangarSidecarDown', 'McpHangarAggregatorDown']) {
    t.ok(names.includes(need), need)
  }
  t.equal(new Set(names).size, names.length, 'alert names are unique')
})

t.test('every alert has a severity, a summary and a description naming its subject', async (t) => {
  for (const a of alerts) {
    t.match(a.labels?.severity, /^(critical|warning|info)$/, `${a.alert}: severity`)
    t.ok(a.annotations?.summary, `${a.alert}: summary`)
    t.ok(a.annotations?.description, `${a.alert}: description`)
    // The subject: the provider for per-provider alerts, the sink or the scrape target otherwise.
    const by = /\$labels\.(provider|sink|instance|feature)/
    t.match(a.annotations?.summary, by, `${a.alert}: the summary names its subject`)
    t.match(a.annotations?.description, by, `${a.alert}: the description names its subject`)
    if (a.expr.includes('provider') || a.expr.includes('mcp-hangar-sidecar')) t.match(a.annotations?.description, /\$labels\.provider/, `${a.alert}: names the provider`)
    t.notMatch(a.annotations?.description, /DESIGN\.md|issue ?#?\d/i, `${a.alert}: stands alone`)
  }
})

t.test('promtool check config accepts the example prometheus.yaml, rules included', async (t) => {
  const r = await promtool(['check', 'config', 'prometheus.yaml'], PROM)
  t.equal(r.code, 0, r.stdout + r.stderr)
  t.match(r.stdout, /SUCCESS: \d+ rules found/)
  const cfg = parse(readFileSync(join(PROM, 'prometheus.yaml'), 'utf8')) as { scrape_configs: Array<{ job_name: string; static_configs: Array<{ labels?: Record<string, string> }> }> }
  t.same(cfg.scrape_configs.map((s) => s.job_name).sort(), ['mcp-hangar-aggregator', 'mcp-hangar-sidecar'], 'the job names the rules expect')
  const sidecar = cfg.scrape_configs.find((s) => s.job_name === 'mcp-hangar-sidecar')!
  for (const sc of sidecar.static_configs) t.ok(sc.labels?.provider, 'each sidecar target is labelled with its provider')
  t.equal((sidecar as { honor_labels?: boolean }).honor_labels, true, 'the sidecar job keeps the provider label of the series (not exported_provider)')
})
