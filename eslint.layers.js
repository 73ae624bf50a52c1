/**
 * The layers of the codebase and which may import which (eslint-plugin-boundaries settings).
 *
 *   core ← signals ← policy ← config ← {egress, proxy, profiles, aggregator} ← sidecar ← {compose, local, k8s} ← cli
 *
 * A layer imports only layers to its left; the four planes in braces never import one another;
 * compose/, local/ and k8s/ (three ways to deploy) never import one another. `enterprise/` may import any
 * layer but no layer imports it; of the tests, only those under test/enterprise/ may (the CLI loads
 * the enterprise bootstrap at run time by a computed URL, cli/enterprise.ts). `test/`, `benchmarks/`, `scripts/` and `examples/` stand outside the
 * stack and may import any layer, except that benchmarks/ measures the sidecar, never the CLI.
 * Read by eslint.config.js and by test/lint/layers.test.ts.
 */

/** Bottom to top; each entry lists the folders of one step (siblings may not import one another). */
export const LAYERS = [['core'], ['signals'], ['policy'], ['config'], ['egress', 'proxy', 'profiles', 'aggregator'], ['sidecar'], ['compose', 'local', 'k8s'], ['cli']]

/** Folders outside the stack (they may import any layer). */
export const OUTSIDE = ['test', 'benchmarks', 'scripts', 'examples', 'enterprise']

/** The tests of the enterprise modules: the one folder outside `enterprise/` that may import it. */
export const ENTERPRISE_TESTS = 'test/enterprise'

// The enterprise tests come first: an element is the first whose pattern matches.
export const LAYER_ELEMENTS = [{ type: ENTERPRISE_TESTS, pattern: ENTERPRISE_TESTS, partialMatch: false }, ...[...LAYERS.flat(), ...OUTSIDE].map((type) => ({ type, pattern: type, partialMatch: false }))]

/** For each folder, the folders it may import (its own always). */
export function allowedImports(folder) {
  if (folder === ENTERPRISE_TESTS) return [...LAYERS.flat(), ...OUTSIDE]
  const step = LAYERS.findIndex((s) => s.includes(folder))
  if (step < 0) return folder === 'benchmarks' ? [...LAYERS.flat().filter((f) => f !== 'cli'), ...OUTSIDE.filter((f) => f !== 'enterprise')] : [...LAYERS.flat(), ...OUTSIDE.filter((f) => f !== 'enterprise' || folder === 'enterprise')]
  return [folder, ...LAYERS.slice(0, step).flat()]
}

export const LAYER_POLICIES = [...LAYERS.flat(), ...OUTSIDE].map((folder) => {
  const allowed = new Set(allowedImports(folder))
  const denied = [...LAYERS.flat(), ...OUTSIDE].filter((f) => !allowed.has(f))
  return denied.length === 0 ? null : {
    from: { element: { type: folder } },
    disallow: { to: { element: { types: { anyOf: denied } } } },
    message: `${folder}/ may not import {{to.element.type}}/: dependencies point one way (docs/ARCHITECTURE.md)`,
  }
}).filter(Boolean)
