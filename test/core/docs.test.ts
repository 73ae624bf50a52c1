/** Docs and code in step (fastify's errors table test): every error code and signal type is documented, and nothing else. */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { ERROR_CODES } from '../../core/errors.js'
import { SIGNAL_TYPES } from '../../signals/types.js'

const root = new URL('../../', import.meta.url)

t.test('docs/errors.md lists exactly the codes of core/errors.ts', async (t) => {
  const doc = readFileSync(new URL('docs/errors.md', root), 'utf8')
  const documented = new Set([...doc.matchAll(/^\| `(HANGAR_[A-Z_]+)` \|/gm)].map((m) => m[1]))
  t.same([...documented].sort(), Object.values(ERROR_CODES).sort())
})

t.test('docs/signals.md lists every signal type with its catalogue severity', async (t) => {
  const doc = readFileSync(new URL('docs/signals.md', root), 'utf8')
  for (const [type, def] of Object.entries(SIGNAL_TYPES)) {
    const row = doc.split('\n').find((l) => l.startsWith(`| \`${type}\` |`))
    t.ok(row, `${type} documented`)
    t.match(row ?? '', ` ${def.severity}`, `${type} severity ${def.severity}`)
  }
})
