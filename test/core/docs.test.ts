/** Docs and code in step (fastify's errors table test): every error code and signal type is documented, and nothing else. */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { AGGREGATOR_API_ERROR_CODES, ERROR_CODES, INGRESS_REJECT_REASONS, JSON_RPC_ERROR_CODES } from '../../core/errors.js'
import { SIGNAL_TYPES } from '../../signals/types.js'

const root = new URL('../../', import.meta.url)

t.test('docs/errors.md lists exactly the codes of core/errors.ts', async (t) => {
  const doc = readFileSync(new URL('docs/errors.md', root), 'utf8')
  const documented = new Set([...doc.matchAll(/^\| `(HANGAR_[A-Z_]+)` \|/gm)].map((m) => m[1]))
  t.same([...documented].sort(), Object.values(ERROR_CODES).sort())
})

/** The rows of the table under `## heading` in docs/errors.md, as arrays of cells (backquotes removed). */
function tableRows(heading: string): string[][] {
  const doc = readFileSync(new URL('docs/errors.md', root), 'utf8')
  const at = doc.indexOf(`\n## ${heading}\n`)
  if (at < 0) return []
  const section = doc.slice(at + heading.length + 5).split(/\n## /)[0]!
  return section.split('\n').filter((l) => l.startsWith('| `')).map((l) => l.split('|').slice(1, -1).map((c) => c.trim().replace(/`/g, '')))
}

t.test('docs/errors.md lists exactly the JSON-RPC error codes, each with its name', async (t) => {
  const rows = tableRows('JSON-RPC error codes')
  t.same(rows.map((r) => [Number(r[0]), r[1]]).sort(), Object.entries(JSON_RPC_ERROR_CODES).map(([name, code]) => [code, name]).sort())
})

t.test('docs/errors.md lists exactly the MCP ingress refusal reasons, each with its statuses', async (t) => {
  const rows = tableRows('MCP ingress refusal reasons')
  t.same(rows.map((r) => [r[0], r[1]!.split(/,\s*/).map(Number)]).sort(), Object.entries(INGRESS_REJECT_REASONS).map(([k, v]) => [k, [...v]]).sort())
})

t.test('docs/errors.md lists exactly the aggregator API error codes, each with its status', async (t) => {
  const rows = tableRows('Aggregator API error codes')
  t.same(rows.map((r) => [r[0], Number(r[1])]).sort(), Object.entries(AGGREGATOR_API_ERROR_CODES).sort())
})

t.test('every code of core/errors.ts carries its own TSDoc comment', async (t) => {
  const src = readFileSync(new URL('core/errors.ts', root), 'utf8')
  const keys = [...Object.keys(ERROR_CODES), ...Object.keys(JSON_RPC_ERROR_CODES), ...Object.keys(INGRESS_REJECT_REASONS), ...Object.keys(AGGREGATOR_API_ERROR_CODES)]
  const undocumented = keys.filter((k) => !new RegExp(`\\*/\\n  ${k}: `).test(src))
  t.same(undocumented, [], 'no code without a comment right above it')
})

t.test('docs/signals.md lists every signal type with its catalogue severity', async (t) => {
  const doc = readFileSync(new URL('docs/signals.md', root), 'utf8')
  for (const [type, def] of Object.entries(SIGNAL_TYPES)) {
    const row = doc.split('\n').find((l) => l.startsWith(`| \`${type}\` |`))
    t.ok(row, `${type} documented`)
    t.match(row ?? '', ` ${def.severity}`, `${type} severity ${def.severity}`)
  }
})
