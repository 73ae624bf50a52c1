#!/usr/bin/env node
/**
 * `npm run conformance`: the MCP conformance suite against server-everything directly and through
 * the sidecar (remote and stdio modes), compared check by check (scripts/lib/conformance.mjs,
 * docs/conformance.md). Needs `npm run build` and `npm ci --prefix tools/conformance`.
 *
 *   node scripts/conformance.mjs [--out DIR] [--suite all|active] [--server everything|fixture]
 *                                [--only remote|subprocess|per_session] [--json]
 *
 * Prints, per server (server-everything, then our conformance fixture), the table
 * scenario | direct | via sidecar … | same?, then the known and unexpected differences. Exit 0 when every scenario gives the same checks through the sidecar as directly
 * (known differences allowed), 1 when one differs, 2 when it could not run.
 */
import console from 'node:console'
import process from 'node:process'
import { fileURLToPath, URL } from 'node:url'
import { parseArgs } from 'node:util'
import { formatTable, runConformance, TARGET_LABELS } from './lib/conformance.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    suite: { type: 'string', default: 'all' },
    only: { type: 'string' },
    server: { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
})
if (values.help) {
  console.log('usage: node scripts/conformance.mjs [--out DIR] [--suite all|active] [--server everything|fixture] [--only remote|subprocess|per_session] [--json]')
  process.exit(0)
}
if (values.only !== undefined && !['remote', 'subprocess', 'per_session'].includes(values.only)) {
  console.error(`--only: remote, subprocess or per_session, not ${values.only}`)
  process.exit(2)
}
if (values.server !== undefined && values.server !== 'everything' && values.server !== 'fixture') {
  console.error(`--server: everything or fixture, not ${values.server}`)
  process.exit(2)
}

/** @type {(env?: Record<string, string | undefined>) => Record<string, string>} */
let providerEnv
try {
  // The provider environment rule (core/env.ts), from the build: this script runs without a TypeScript loader.
  ;({ providerEnv } = await import('../dist/core/env.js'))
} catch {
  console.error('conformance: dist/ is missing: run npm run build')
  process.exit(2)
}

let report
try {
  report = await runConformance({
    root,
    env: providerEnv(),
    outDir: values.out,
    suite: values.suite,
    sidecars: values.only ? [values.only] : undefined,
    servers: values.server ? [values.server] : undefined,
    log: (line) => console.error(line),
  })
} catch (err) {
  console.error(`conformance: ${err instanceof Error ? err.message : String(err)}`)
  process.exit(2)
}

if (values.json) console.log(JSON.stringify(report, null, 2))
else {
  for (const server of report.servers) {
    console.log(`\n## ${server.label}\n\n${formatTable(server)}`)
    for (const row of server.scenarios) {
      for (const [target, c] of Object.entries(row.comparisons)) {
        if (c.verdict === 'same') continue
        console.log(`\n${c.verdict === 'known' ? 'known difference' : 'DIFFERENCE'}: ${server.label}, ${row.scenario}, ${TARGET_LABELS[target]}`)
        const reasons = [...new Set(c.differences.map((d) => d.known).filter(Boolean))]
        for (const r of reasons) console.log(`  why: ${r}`)
        for (const d of c.differences) console.log(`  #${d.index} direct: ${JSON.stringify(d.direct)}\n     sidecar: ${JSON.stringify(d.other)}`)
      }
    }
  }
  const differs = report.servers.flatMap((s) => s.scenarios.filter((r) => r.verdict === 'differs').map((r) => `${s.label}: ${r.scenario}`))
  console.log(`\n${report.suite}: ${differs.length ? `DIFFERENT through the sidecar: ${differs.join(', ')}` : 'the sidecar is transparent (same checks as direct, known differences aside)'}`)
  console.log(`report: ${report.outDir}/report.json`)
}
process.exit(report.ok ? 0 : 1)
