// compose/extends.ts: the labels a service has once Compose applies its extends chain, in this file
// and in others; chains that cannot be followed are refused naming services.<name>.extends.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import * as Y from 'yaml'
import { MAX_EXTENDS_DEPTH, extendedLabels } from '../../compose/extends.js'
import { ConfigError } from '../../core/errors.js'
import { thrown } from '../helpers/thrown.js'

type Obj = Record<string, unknown>

function refusal(t: Test, fn: () => unknown, name: string, message: RegExp) {
  const e = thrown(fn)
  t.ok(e instanceof ConfigError, 'ConfigError')
  t.equal((e as ConfigError).issues[0]?.path, `services.${name}.extends`)
  t.match((e as ConfigError).issues[0]?.message ?? '', message)
}

t.test('a service without extends has its own labels', async (t) => {
  t.strictSame(extendedLabels(Y, 'a', { a: { labels: { x: '1' } } }, '/nowhere/c.yml'), { x: '1' })
})

t.test('labels inherited in the same file; the extending service wins', async (t) => {
  const services: Obj = {
    base: { labels: { 'mcp.hangar.enabled': 'true', keep: 'base', both: 'base' } },
    mid: { extends: 'base', labels: ['both=mid', 'm=1'] },
    top: { extends: { service: 'mid' }, labels: { both: 'top' } },
  }
  t.strictSame(extendedLabels(Y, 'top', services, '/x/c.yml'), { 'mcp.hangar.enabled': 'true', keep: 'base', both: 'top', m: '1' })
})

t.test('labels inherited from another file, relative to the file that names it', async (t) => {
  const dir = t.testdir({
    'c.yml': '',
    sub: {
      'base.yml': 'services:\n  b:\n    extends: {file: ../more/deep.yml, service: d}\n    labels: {from: b}\n',
    },
    more: { 'deep.yml': 'services:\n  d:\n    labels: {mcp.hangar.enabled: "true", from: d}\n' },
  })
  const services: Obj = { p: { extends: { file: 'sub/base.yml', service: 'b' } } }
  t.strictSame(extendedLabels(Y, 'p', services, join(dir, 'c.yml')), { 'mcp.hangar.enabled': 'true', from: 'b' })
})

t.test('files are read once per cache', async (t) => {
  const dir = t.testdir({ 'base.yml': 'services:\n  b:\n    labels: {v: one}\n' })
  const file = join(dir, 'c.yml')
  const cache = new Map<string, Obj>()
  const services: Obj = { p: { extends: { file: 'base.yml', service: 'b' } } }
  t.strictSame(extendedLabels(Y, 'p', services, file, cache), { v: 'one' })
  writeFileSync(join(dir, 'base.yml'), 'services:\n  b:\n    labels: {v: two}\n')
  t.strictSame(extendedLabels(Y, 'p', services, file, cache), { v: 'one' }, 'cached')
  t.strictSame(extendedLabels(Y, 'p', services, file), { v: 'two' }, 'control: a fresh cache reads the file again')
})

t.test('refused: chains inject cannot follow', async (t) => {
  const f = '/x/c.yml'
  refusal(t, () => extendedLabels(Y, 'p', { p: { extends: 'ghost' } }, f), 'p', /extends service "ghost", which does not exist/)
  refusal(t, () => extendedLabels(Y, 'p', { p: { extends: 'q' }, q: { extends: 'p' } }, f), 'p', /returns to service "p" \(a cycle\)/)
  refusal(t, () => extendedLabels(Y, 'p', { p: { extends: 'p' } }, f), 'p', /a cycle/)
  refusal(t, () => extendedLabels(Y, 'p', { p: { extends: '${BASE}' } }, f), 'p', /service name written out/)
  refusal(t, () => extendedLabels(Y, 'p', { p: { extends: { file: 5 } } }, f), 'p', /service name written out/)
  refusal(t, () => extendedLabels(Y, 'p', { p: { extends: { service: 'b', file: '$F.yml' } } }, f), 'p', /path written out/)
  refusal(t, () => extendedLabels(Y, 'p', { p: { extends: 42 } }, f), 'p', /a service name or a mapping/)
  refusal(t, () => extendedLabels(Y, 'p', { p: { extends: { service: 'b', file: 'missing.yml' } } }, '/nonexistent-dir/c.yml'), 'p', /cannot read the extended file \/nonexistent-dir\/missing\.yml/)
})

t.test('a missing service in another file names that file', async (t) => {
  const dir = t.testdir({ 'o.yml': 'services:\n  b: {}\n' })
  refusal(t, () => extendedLabels(Y, 'p', { p: { extends: { file: 'o.yml', service: 'nope' } } }, join(dir, 'c.yml')), 'p', new RegExp(`"nope" of ${join(dir, 'o.yml').replace(/[.]/g, '\\.')}`))
})

t.test('the depth bound: MAX_EXTENDS_DEPTH links pass, one more is refused', async (t) => {
  const chain = (n: number): Obj => {
    const s: Obj = { s0: { labels: { end: 'yes' } } }
    for (let i = 1; i <= n; i++) s[`s${i}`] = { extends: `s${i - 1}` }
    return s
  }
  t.strictSame(extendedLabels(Y, `s${MAX_EXTENDS_DEPTH}`, chain(MAX_EXTENDS_DEPTH), '/x/c.yml'), { end: 'yes' })
  refusal(t, () => extendedLabels(Y, `s${MAX_EXTENDS_DEPTH + 1}`, chain(MAX_EXTENDS_DEPTH + 1), '/x/c.yml'), `s${MAX_EXTENDS_DEPTH + 1}`, /more than 16 extends/)
})

t.test('a cycle across files is found', async (t) => {
  const dir = t.testdir({ 'a.yml': 'services:\n  a:\n    extends: {file: b.yml, service: b}\n', 'b.yml': 'services:\n  b:\n    extends: {file: a.yml, service: a}\n' })
  refusal(t, () => extendedLabels(Y, 'p', { p: { extends: { file: 'a.yml', service: 'a' } } }, join(dir, 'c.yml')), 'p', /a cycle/)
})
