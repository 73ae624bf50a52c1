/**
 * One test file per source file with logic, named after it: `<folder>/<path>/<name>.ts` is covered
 * by `test/<folder>/<path>/<name>.test.ts` (scenario files `<name>-<aspect>.test.ts` count too).
 * A file without logic (types, constants, re-exports) needs none; the few files whose logic is
 * only reachable through a bigger test are listed below with the test that covers them, and that
 * test must exist and name the file.
 */
import t from 'tap'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { LAYERS } from '../../eslint.layers.js'

const root = fileURLToPath(new URL('../../', import.meta.url))

/** Source files covered by a test that is not named after them: file → the covering test. */
export const COVERED_ELSEWHERE: Readonly<Record<string, string>> = {
  // The signal schema and catalogue: data, exercised by the validator's tests over every type.
  'signals/types.ts': 'test/signals/validate.test.ts',
  // The baseline document's zod schema: every recorder and store test round-trips it.
  'policy/baseline-schema.ts': 'test/profiles/baseline/recorder.test.ts',
  // The capability schema is one half of the config schema; the loader's tests cover each field.
  'policy/capabilities.ts': 'test/config/load.test.ts',
  // compilePolicy turns capabilities into the EgressPolicy every decision table test starts from.
  'policy/egress-policy.ts': 'test/policy/egress.test.ts',
  // ProxySignals is what the Inspector emits through; its decisions tests assert every signal.
  'proxy/inspect/signals.ts': 'test/proxy/inspect/inspector-decisions.test.ts',
  // The broker's wire protocol and the container child are its two ends, tested together.
  'proxy/stdio/broker-protocol.ts': 'test/local/container-broker.test.ts',
  'proxy/stdio/container-child.ts': 'test/local/container-broker.test.ts',
}

/** True when a line outside comments holds control flow (a file of types and constants has none). */
function hasLogic(src: string): boolean {
  return src.split('\n').some((l) => !/^\s*(\*|\/\/|\/\*)/.test(l) && /\b(if|for|while|switch|return|throw)\b/.test(l))
}

function walk(d: string): string[] {
  if (!existsSync(d)) return []
  return readdirSync(d, { withFileTypes: true }).flatMap((e) => e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)])
}

/** Source files with logic that have neither a named test nor an entry in `covered`. */
export function untested(base: string, covered: Readonly<Record<string, string>> = {}): string[] {
  const tests = walk(join(base, 'test')).map((f) => relative(base, f)).filter((f) => f.endsWith('.test.ts'))
  const out: string[] = []
  for (const folder of LAYERS.flat()) {
    for (const abs of walk(join(base, folder))) {
      const file = relative(base, abs)
      if (!file.endsWith('.ts') || file.endsWith('.d.ts') || !hasLogic(readFileSync(abs, 'utf8'))) continue
      const named = `test/${file.replace(/\.ts$/, '.test.ts')}`
      const prefix = named.replace(/\.test\.ts$/, '-')
      if (tests.some((x) => x === named || x.startsWith(prefix))) continue
      if (covered[file]) continue
      out.push(file)
    }
  }
  return out
}

t.test('the check finds a source file with logic and no test, and accepts the named and scenario forms', async (t) => {
  const base = t.testdir({
    policy: { 'a.ts': 'export function a(x: number) { if (x) return 1; return 0 }\n', 'b.ts': 'export function b() { return 2 }\n', 'c.ts': 'export function c() { return 3 }\n', 'types.ts': 'export interface T { x: number }\n' },
    egress: { dns: { 'd.ts': 'export const d = () => { for (;;) return 4 }\n' } },
    test: { policy: { 'a.test.ts': '', 'b-edge-cases.test.ts': '' } },
  })
  t.same(untested(base), ['policy/c.ts', 'egress/dns/d.ts'].sort((x, y) => LAYERS.flat().indexOf(x.split('/')[0]!) - LAYERS.flat().indexOf(y.split('/')[0]!)))
  t.same(untested(base, { 'policy/c.ts': 'test/x.test.ts', 'egress/dns/d.ts': 'test/y.test.ts' }), [])
})

t.test('every source file with logic has a test named after it', async (t) => {
  t.same(untested(root, COVERED_ELSEWHERE), [])
})

t.test('each file covered elsewhere names an existing test that mentions it', async (t) => {
  for (const [file, test] of Object.entries(COVERED_ELSEWHERE)) {
    t.ok(existsSync(join(root, file)), `${file} exists`)
    const path = join(root, test)
    t.ok(existsSync(path), `${test} exists`)
    const base = file.replace(/\.ts$/, '').split('/').pop() ?? ''
    t.match(existsSync(path) ? readFileSync(path, 'utf8') : '', base, `${test} mentions ${base}`)
  }
})
