#!/usr/bin/env node
/**
 * Bundles the compiled CLI (dist/cli/main.js) and its pure-JS dependencies into one ES module,
 * dist/mcp-hangar.mjs, the file the `mcp-hangar` bin runs, and the enterprise bootstrap
 * (dist/enterprise/bootstrap.js) into dist/mcp-hangar-enterprise.mjs, which the CLI loads
 * beside itself when licensed. One file instead of ~150 modules
 * saves ~4 MB of resident memory per sidecar (fewer module records, less source kept for lazy
 * compilation; measured in docs/benchmarks/egress.md) and is what the container images copy.
 *
 * Modules loaded at run time through createRequire (prom-client's classes, yaml, tldts,
 * ip-address: see core/transient-module.ts and core/metrics.ts) stay outside the bundle and are
 * resolved from node_modules as before. Identifiers are not minified, so stack traces and error
 * class names read as in the source; esbuild renames only on a clash between modules (today only
 * zod's internal `_ZodString2`). `keepNames` is off: it wraps every function and class expression
 * in a `__name()` call that redefines `.name` at run time, for each closure created per request,
 * which cost 25 % of the sidecar's tools/call throughput (benchmarks/mcp-proxy, minimal upstream).
 */
import { build } from 'esbuild'
import { buildUi } from './ui-build.mjs'

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  minifyWhitespace: true,
  minifySyntax: true,
  keepNames: false,
  sourcemap: 'linked',
  legalComments: 'linked',
  // dockerode (and ssh2 under it, with optional native parts) is loaded by `up` only, with a dynamic
  // import, for mode: container providers; it stays in node_modules.
  external: ['dockerode'],
  logLevel: 'warning',
  // Bundled CommonJS dependencies call require() and read __filename (write-file-atomic names its
  // temporary files with it); give the ES module both, pointing at the bundle itself.
  banner: { js: "import { createRequire as __hangarRequire } from 'node:module'; import { fileURLToPath as __hangarFileURLToPath } from 'node:url'; const require = __hangarRequire(import.meta.url); const __filename = __hangarFileURLToPath(import.meta.url);" },
}

await build({ ...common, entryPoints: ['dist/cli/main.js'], outfile: 'dist/mcp-hangar.mjs' })
// The enterprise modules (BSL 1.1) in a bundle of their own, beside the CLI's: the CLI imports it
// at run time, by a computed URL, only when the license allows (cli/enterprise.ts); the CLI
// bundle itself holds no enterprise code.
await build({ ...common, entryPoints: ['dist/enterprise/bootstrap.js'], outfile: 'dist/mcp-hangar-enterprise.mjs' })
// The operator console's static files (dist/ui/), served by the aggregator at /ui/.
await buildUi()
