/**
 * The layer rule (eslint.layers.js, enforced by eslint-plugin-boundaries in eslint.config.js):
 * dependencies point one way. Each planted bad import is linted with the project's own ESLint
 * configuration and must be reported; each control (the same syntax pointing down the stack) must
 * not. A second, independent scan reads every relative import in the tree with a regular
 * expression and checks it against the same table, so a resolver that silently fails to resolve a
 * path cannot hide a violation.
 */
import t from 'tap'
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ESLint } from 'eslint'
import { ENTERPRISE_TESTS, LAYERS, OUTSIDE, allowedImports } from '../../eslint.layers.js'

const root = fileURLToPath(new URL('../../', import.meta.url))
const eslint = new ESLint({ cwd: root, ruleFilter: ({ ruleId }) => ruleId === 'boundaries/dependencies' })

/** Lints `code` as if it were the file `rel` (relative to the repository root); returns the boundary messages. */
async function layerErrors(rel: string, code: string): Promise<string[]> {
  const [res] = await eslint.lintText(code, { filePath: join(root, rel) })
  return (res?.messages ?? []).filter((m) => m.ruleId === 'boundaries/dependencies').map((m) => m.message)
}

t.test('the table: each layer imports only layers to its left, siblings never', async (t) => {
  t.same(LAYERS.map((s) => [...s]), [['core'], ['signals'], ['policy'], ['config'], ['egress', 'proxy', 'profiles', 'aggregator'], ['sidecar'], ['compose', 'local', 'k8s'], ['cli']])
  t.same(allowedImports('core'), ['core'])
  t.same(allowedImports('policy'), ['policy', 'core', 'signals'])
  t.notOk(allowedImports('egress').includes('proxy'), 'egress may not import proxy')
  t.notOk(allowedImports('local').includes('compose'), 'local may not import compose')
  t.ok(allowedImports('cli').includes('local'), 'cli composes local')
  t.notOk(allowedImports('benchmarks').includes('cli'), 'benchmarks never import cli')
  for (const f of [...LAYERS.flat(), 'test', 'benchmarks', 'scripts', 'examples']) t.notOk(allowedImports(f).includes('enterprise'), `${f} may not import enterprise`)
  t.ok(allowedImports('enterprise').includes('core'), 'enterprise imports the core')
  t.ok(allowedImports(ENTERPRISE_TESTS).includes('enterprise'), 'the enterprise tests import enterprise')
})

const planted: Array<[string, string, string]> = [
  ['an upward import (policy → sidecar)', 'policy/__planted.ts', "import { EgressSidecar } from '../sidecar/egress.js'\nexport const x = EgressSidecar\n"],
  ['the bottom importing a layer above (core → signals)', 'core/__planted.ts', "import { SIGNAL_TYPES } from '../signals/types.js'\nexport const x = SIGNAL_TYPES\n"],
  ['a sideways import between planes (egress → proxy)', 'egress/__planted.ts', "import { DEFAULT_NEGOTIATED_VERSION } from '../proxy/types.js'\nexport const x = DEFAULT_NEGOTIATED_VERSION\n"],
  ['a plane importing another plane (profiles → egress)', 'profiles/__planted.ts', "import { pipe } from '../egress/pipe.js'\nexport const x = pipe\n"],
  ['a deep file importing upward (proxy/inspect → sidecar)', 'proxy/inspect/__planted.ts', "import { McpSidecar } from '../../sidecar/mcp.js'\nexport const x = McpSidecar\n"],
  ['a type-only import', 'config/__planted.ts', "import type { EgressSidecar } from '../sidecar/egress.js'\nexport type X = EgressSidecar\n"],
  ['a re-export', 'signals/__planted.ts', "export * from '../policy/glob.js'\n"],
  ['a dynamic import()', 'aggregator/__planted.ts', "export const load = () => import('../sidecar/control-plane.js')\n"],
  ['one deployment importing the other (local → compose)', 'local/__planted.ts', "import { inject } from '../compose/inject.js'\nexport const x = inject\n"],
  ['the sidecar importing the CLI', 'sidecar/__planted.ts', "import { SIDECAR_NODE_FLAGS } from '../cli/main.js'\nexport const x = SIDECAR_NODE_FLAGS\n"],
  ['a benchmark importing the CLI', 'benchmarks/__planted.ts', "import '../cli/main.js'\n"],
]

for (const [name, file, code] of planted) {
  t.test(`the rule fires on ${name}`, async (t) => {
    const errors = await layerErrors(file, code)
    t.equal(errors.length, 1, errors.join('; ') || 'no boundary error')
    t.match(errors[0] ?? '', /may not import .*: dependencies point one way/)
  })
}

t.test('nothing outside enterprise/ may import it; enterprise/ imports the core', async (t) => {
  // The import must resolve for the rule to classify it: a real file under enterprise/, removed after.
  const dir = join(root, 'enterprise')
  const had = existsSync(dir)
  const target = join(dir, `__planted-${process.pid}.ts`)
  mkdirSync(dir, { recursive: true })
  writeFileSync(target, 'export const planted = 1\n')
  t.teardown(() => { rmSync(target, { force: true }); if (!had) rmSync(dir, { recursive: true, force: true }) })
  const spec = `../enterprise/__planted-${process.pid}.js`
  for (const from of ['core', 'sidecar', 'cli', 'aggregator', 'test']) {
    const errors = await layerErrors(`${from}/__planted.ts`, `import { planted } from '${spec}'\nexport const x = planted\n`)
    t.equal(errors.length, 1, `${from} → enterprise is refused`)
  }
  t.same(await layerErrors(`enterprise/__planted-from.ts`, "import { HANGAR_VERSION } from '../core/version.js'\nexport const x = HANGAR_VERSION\n"), [], 'enterprise → core is allowed')
})

const controls: Array<[string, string, string]> = [
  ['downward (sidecar → egress)', 'sidecar/__planted.ts', "import { pipe } from '../egress/pipe.js'\nexport const x = pipe\n"],
  ['downward (config → policy)', 'config/__planted.ts', "import type { EgressSidecar } from '../policy/egress-types.js'\nexport type X = EgressSidecar\n"],
  ['downward (policy → core)', 'policy/__planted.ts', "export * from '../core/errors.js'\n"],
  ['downward dynamic import (cli → local)', 'cli/__planted.ts', "export const load = () => import('../local/up.js')\n"],
  ['a test importing any layer', 'test/__planted.ts', "import '../cli/main.js'\nimport '../sidecar/egress.js'\n"],
  ['a benchmark importing the sidecar', 'benchmarks/__planted.ts', "import { SIDECAR_NODE_FLAGS } from '../sidecar/node-flags.js'\nexport const x = SIDECAR_NODE_FLAGS\n"],
  ['within one folder', 'egress/__planted.ts', "import { pipe } from './pipe.js'\nexport const x = pipe\n"],
]

for (const [name, file, code] of controls) {
  t.test(`the rule allows ${name}`, async (t) => {
    t.same(await layerErrors(file, code), [])
  })
}

/** Every relative import in the tree that crosses a top-level folder against the table (no resolver). */
function scanViolations(base: string = root): string[] {
  const folders = [...LAYERS.flat(), ...OUTSIDE]
  const out: string[] = []
  const walk = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? (['node_modules', 'dist', 'fixtures'].includes(e.name) ? [] : walk(join(d, e.name))) : /\.(ts|mts|mjs)$/.test(e.name) && !e.name.endsWith('.d.ts') ? [join(d, e.name)] : [])
  for (const top of folders) {
    if (!existsSync(join(base, top))) continue
    for (const file of walk(join(base, top))) {
      const src = readFileSync(file, 'utf8')
      const from = relative(base, file).startsWith(`${ENTERPRISE_TESTS}/`) ? ENTERPRISE_TESTS : top
      for (const m of src.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)|(?:^|\n)\s*import\s+['"](\.[^'"]+)['"]/g)) {
        const spec = m[1] ?? m[2] ?? m[3] ?? ''
        const to = relative(base, resolve(dirname(file), spec)).split(sep)[0] ?? ''
        if (to === top || !folders.includes(to)) continue
        if (!allowedImports(from).includes(to)) out.push(`${relative(base, file)} → ${spec}`)
      }
    }
  }
  return out
}

t.test('the scan finds planted violations in a tree (even unresolvable ones) and passes its controls', async (t) => {
  const base = t.testdir({
    policy: { 'bad.ts': "import { x } from '../sidecar/missing.js'\nexport const y = x\n", 'ok.ts': "import { z } from '../core/errors.js'\n" },
    egress: { dns: { 'bad.ts': "export * from '../../proxy/types.js'\n" }, 'ok.ts': "import { a } from './dns/bad.js'\n" },
    core: { 'bad.ts': "const m = () => import('../signals/types.js')\n" },
    cli: { 'ok.ts': "import '../local/up.js'\n", 'bad.ts': "export const l = () => import('../enterprise/bootstrap.js')\n" },
    enterprise: { 'bootstrap.ts': "import '../core/errors.js'\n" },
    test: { cli: { 'bad.test.ts': "import '../../enterprise/bootstrap.js'\n" }, enterprise: { 'ok.test.ts': "import '../../enterprise/bootstrap.js'\n" } },
  })
  t.same(scanViolations(base).sort(), ["cli/bad.ts → ../enterprise/bootstrap.js", "core/bad.ts → ../signals/types.js", "egress/dns/bad.ts → ../../proxy/types.js", "policy/bad.ts → ../sidecar/missing.js", "test/cli/bad.test.ts → ../../enterprise/bootstrap.js"])
})

t.test('the tree obeys the table (an independent scan of every relative import)', async (t) => {
  t.same(scanViolations(), [])
})
