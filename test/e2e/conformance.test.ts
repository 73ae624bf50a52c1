/**
 * MCP conformance transparency (docs/conformance.md): the MCP conformance suite
 * (`@modelcontextprotocol/conformance` 0.1.16, every server scenario) gives the same per-check
 * results through the sidecar — `mode: remote` in front of the server's Streamable HTTP mode,
 * and `mode: subprocess` (per_session) over its stdio — as directly. Two servers:
 * server-everything, and our conformance fixture (scripts/lib/conformance-server.mjs), which
 * implements what the suite calls so every scenario runs to its end. The comparison itself is
 * scripts/lib/conformance.mjs (also `npm run conformance`); its pure parts are tested first on
 * fixed inputs. Skipped outside CI when tools/conformance or dist/ is missing; a failure in CI.
 */
import t from 'tap'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse } from 'yaml'
import { providerSchema } from '../../config/schema.js'
import { providerEnv } from '../../core/env.js'
import {
  buildReport,
  checkKey,
  compareScenario,
  formatTable,
  KNOWN_DIFFERENCES,
  knownDifference,
  normalizeMessage,
  parseScenarioList,
  readResults,
  runConformance,
  sidecarConfig,
  TARGET_LABELS,
  transportOwned,
  type SidecarTarget,
} from '../../scripts/lib/conformance.mjs'
import { conformanceReadiness, ROOT } from '../helpers/conformance.js'

t.test('comparison: parsing and verdicts on fixed inputs', async (t) => {
  const list = `Server scenarios (test against a server):\n  - server-initialize [2025-06-18,2025-11-25]\n  - dns-rebinding-protection [2025-11-25]\n\nClient scenarios (test against a client):\n  - initialize [2025-06-18]\n`
  t.same(parseScenarioList(list), ['server-initialize', 'dns-rebinding-protection'], 'only the server scenarios of `list --server`')

  t.equal(
    normalizeMessage('session 29278285-e28e-4c8b-9f5c-9daf1fa17ec9 at http://127.0.0.1:3311/mcp, 2026-11-22T01:08:44.269Z'),
    'session <uuid> at http://127.0.0.1:<port>/mcp, <time>',
    'UUIDs, loopback ports and ISO times are masked',
  )
  t.same(checkKey({ id: 'a', status: 'SUCCESS', details: { x: 1 } } as never), { id: 'a', status: 'SUCCESS' }, 'details are not compared')

  const dir = mkdtempSync(join(tmpdir(), 'hangar-conf-unit-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const write = (name: string, checks: unknown) => {
    mkdirSync(join(dir, name), { recursive: true })
    writeFileSync(join(dir, name, 'checks.json'), JSON.stringify(checks))
  }
  write('server-ping-2026-11-22T01-08-43-431Z', [{ id: 'ping', status: 'FAILURE' }])
  write('server-ping-2026-11-22T01-08-45-000Z', [{ id: 'ping', status: 'SUCCESS' }])
  write('server-tools-call-with-progress-2026-11-22T01-08-43-000Z', [{ id: 'tools-call-with-progress', status: 'FAILURE', errorMessage: 'x' }])
  mkdirSync(join(dir, 'not-a-result'))
  const read = readResults(dir)
  t.same([...read.keys()].sort(), ['ping', 'tools-call-with-progress'], 'scenario names from the folder names, hyphens kept')
  t.equal(read.get('ping')?.[0]?.status, 'SUCCESS', 'the latest run of a scenario wins')

  const ok = [{ id: 'a', status: 'SUCCESS' }]
  t.equal(compareScenario('s', ok, [{ id: 'a', status: 'SUCCESS' }]).verdict, 'same', 'equal checks: same')
  t.equal(compareScenario('s', [{ id: 'a', status: 'FAILURE', errorMessage: 'm' }], [{ id: 'a', status: 'FAILURE', errorMessage: 'm' }]).verdict, 'same', 'failing in both alike is not a transparency failure')
  t.equal(compareScenario('s', [{ id: 'a', status: 'FAILURE', errorMessage: 'm' }], [{ id: 'a', status: 'FAILURE', errorMessage: 'other' }]).verdict, 'differs', 'same status, another message: differs')
  t.equal(compareScenario('s', ok, [...ok, { id: 'b', status: 'INFO' }]).verdict, 'differs', 'an extra check: differs')
  t.equal(compareScenario('s', ok, undefined).verdict, 'differs', 'no result through the sidecar: differs')

  const known = KNOWN_DIFFERENCES[0]!
  const direct = [{ id: known.check, status: known.direct, errorMessage: 'Expected HTTP 4xx for invalid Host/Origin headers, got 200' }]
  const stricter = compareScenario(known.scenario, direct, [{ id: known.check, status: known.sidecar }])
  t.equal(stricter.verdict, 'known', 'the recorded difference is known')
  t.equal(stricter.differences[0]?.known, known.reason, 'and carries its reason')
  t.equal(compareScenario(known.scenario, [{ id: known.check, status: known.sidecar }], [{ id: known.check, status: known.direct }]).verdict, 'differs', 'the opposite direction is not known')

  const roots = KNOWN_DIFFERENCES.find((k) => k.messageIncludes !== undefined)!
  const listed = (tools: string) => [{ id: roots.check, status: roots.direct, errorMessage: `Tool not found. Available tools: ${tools}` }]
  const withRoots = listed('echo, get-roots-list')
  t.ok(knownDifference(roots.scenario, 'subprocess', listed('echo')[0]!, withRoots[0]!), 'shared stdio mode: the extra get-roots-list tool is known')
  t.equal(compareScenario(roots.scenario, listed('echo'), withRoots, 'subprocess').verdict, 'known')
  t.equal(compareScenario(roots.scenario, listed('echo'), withRoots, 'remote').verdict, 'differs', 'not through the remote proxy (targets)')
  t.equal(compareScenario(roots.scenario, listed('echo'), listed('echo, other'), 'subprocess').verdict, 'differs', 'another message change is not known (messageIncludes)')

  const polling = [{ id: 'server-sse-priming-event', status: 'SUCCESS' }]
  const noPriming = [{ id: 'server-sse-priming-event', status: 'WARNING', errorMessage: 'no priming' }]
  t.equal(compareScenario('server-sse-polling', polling, noPriming, 'subprocess').verdict, 'known', 'transport-owned scenario in subprocess mode, nothing failing: known')
  t.equal(compareScenario('server-sse-polling', polling, noPriming, 'remote').verdict, 'differs', 'the same through the remote proxy: differs (the provider owns its streams there)')
  t.equal(compareScenario('server-sse-polling', polling, [{ id: 'x', status: 'FAILURE', errorMessage: 'e' }], 'subprocess').verdict, 'differs', 'transport-owned but failing: differs')
  const toolFails = { id: 'incoming-sse-event', status: 'FAILURE', errorMessage: 'Tool call failed' }
  t.equal(compareScenario('server-sse-polling', [toolFails, ...noPriming], [{ id: 'incoming-sse-event', status: 'INFO' }, toolFails, ...polling], 'subprocess').verdict, 'known',
    'transport-owned, failing exactly what direct fails (in another position): known')
  t.equal(compareScenario('server-sse-polling', [toolFails], [{ ...toolFails, errorMessage: 'another failure' }], 'subprocess').verdict, 'differs', 'a failure direct does not have: differs')
  t.equal(compareScenario('server-sse-polling', [toolFails, toolFails], [toolFails], 'subprocess').verdict, 'differs', 'failures compared as a multiset')

  const report = buildReport(['ping', 'gone'], {
    direct: new Map([['ping', [{ id: 'ping', status: 'SUCCESS' }]]]),
    remote: new Map([['ping', [{ id: 'ping', status: 'FAILURE', errorMessage: 'boom' }]]]),
  })
  t.equal(report.ok, false, 'one differing scenario fails the report')
  t.equal(report.scenarios.find((r) => r.scenario === 'ping')?.verdict, 'differs')
  t.equal(report.scenarios.find((r) => r.scenario === 'gone')?.verdict, 'same', 'missing everywhere is not a difference')
  t.match(formatTable(report), /\| ping \| pass 1\/1 \| FAIL 0\/1 \| \*\*NO\*\* \(via sidecar \(remote\): ping\) \|/, 'the table row names the differing check')

  for (const target of ['remote', 'subprocess'] as const) {
    const yaml = sidecarConfig(target, { endpoint: 'http://127.0.0.1:1/mcp', command: ['node', 'x.js'], dataDir: '/tmp/x' })
    const parsed = providerSchema.safeParse((parse(yaml) as { providers: { mcp: unknown } }).providers.mcp)
    t.ok(parsed.success, `the generated ${target} hangar.yaml is valid (${parsed.success ? 'ok' : parsed.error.message})`)
    if (parsed.success) {
      t.equal(parsed.data.capabilities?.enforcement_mode, 'block', `${target}: inspection on, in block mode`)
      t.same(parsed.data.capabilities?.tools?.deny_list ?? [], [], `${target}: no deny rules`)
    }
  }
})

const ready = conformanceReadiness()
// ~15 s on an idle 2-core machine; generous for a loaded one (the file's own timeout, not a subtest's).
t.setTimeout(300_000)

t.test('conformance suite: same checks through the sidecar as directly', { skip: ready.skip }, async (t) => {
  if (ready.failure) {
    t.fail(ready.failure)
    return
  }
  const outDir = mkdtempSync(join(tmpdir(), 'hangar-conformance-test-'))
  // remote and shared stdio (the default mode); `npm run conformance` adds per_session, which
  // starts a provider process per session and triples the run time.
  const report = await runConformance({ root: ROOT, env: providerEnv(), outDir, sidecars: ['remote', 'subprocess'], runTimeoutMs: 200_000 })

  for (const [run, r] of Object.entries(report.runs)) t.notOk(r.timedOut, `${run}: the suite finished in time`)
  t.same(report.servers.map((s) => s.server), ['everything', 'fixture'], 'both servers compared')
  for (const server of report.servers) {
    t.comment(`\n${server.label}\n${formatTable(server)}`)
    t.ok(server.scenarios.length >= 30, `${server.label}: every server scenario listed (${server.scenarios.length})`)
    for (const row of server.scenarios) {
      for (const target of server.targets) t.ok(row.results[target], `${server.label}, ${row.scenario}: ${TARGET_LABELS[target]} wrote its checks`)
    }
    // A vacuous "same" (everything failing alike because nothing ran) would prove nothing.
    const init = server.scenarios.find((r) => r.scenario === 'server-initialize')
    for (const target of server.targets) t.equal(init?.results[target]?.counts.failure, 0, `${server.label}: server-initialize passes ${TARGET_LABELS[target]}`)

    for (const row of server.scenarios) {
      const direct = row.results.direct?.checks ?? []
      for (const target of server.targets) {
        if (target === 'direct') continue
        const label = `${server.label}, ${row.scenario}: ${TARGET_LABELS[target as SidecarTarget]}`
        const checks = row.results[target]?.checks ?? null
        const c = row.comparisons[target as SidecarTarget]
        if (c?.verdict === 'known') {
          const why = [...new Set(c.differences.map((d) => d.known))]
          t.equal(why.filter((w) => !w).length, 0, `${label} differs only as recorded: ${why.join(' / ').slice(0, 120)}…`)
          if (transportOwned(row.scenario, target)) t.equal(row.results[target]?.counts.failure, row.results.direct?.counts.failure, `${label} fails no more checks than direct (transport-owned)`)
          continue
        }
        t.equal(JSON.stringify(checks, null, 1), JSON.stringify(direct, null, 1), `${label} gives the same checks as direct`)
      }
    }
    t.ok(server.ok, `${server.label}: report verdict transparent`)
  }
  // Our fixture implements what the suite calls: every scenario must pass directly, so the
  // comparison above covers sampling, elicitation, progress, logging and SSE resumption.
  const fixture = report.servers.find((s) => s.server === 'fixture')
  t.same(fixture?.scenarios.filter((r) => (r.results.direct?.counts.failure ?? 1) > 0).map((r) => r.scenario), [], 'the conformance fixture passes every scenario directly')
  if (report.ok) rmSync(outDir, { recursive: true, force: true })
  else t.comment(`raw results kept in ${outDir}`)
})
