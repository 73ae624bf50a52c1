#!/usr/bin/env node
/**
 * Builds the operator console (ui/) into static files the aggregator serves at /ui/: esbuild
 * bundles ui/main.ts with Preact and eventsource-parser into one browser module, app.js (no CDN:
 * everything the page loads comes from the aggregator, so it works offline), and index.html and
 * app.css are copied beside it. Default output: dist/ui/ (`node scripts/ui-build.mjs [outdir]`);
 * scripts/bundle.mjs runs it as part of `npm run build`.
 */
import { build } from 'esbuild'
import { copyFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import process from 'node:process'
import { fileURLToPath, URL } from 'node:url'

const ROOT = fileURLToPath(new URL('../', import.meta.url))

/**
 * Bundles the console into `outdir` (created when missing).
 * @param {string} [outdir] absolute or cwd-relative folder; default dist/ui/ of the repository
 * @returns {Promise<string>} the folder written
 */
export async function buildUi(outdir = join(ROOT, 'dist/ui')) {
  mkdirSync(outdir, { recursive: true })
  await build({
    entryPoints: [join(ROOT, 'ui/main.ts')],
    outfile: join(outdir, 'app.js'),
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: ['chrome110', 'firefox110', 'safari16'],
    minify: true,
    sourcemap: 'linked',
    legalComments: 'linked',
    logLevel: 'warning',
  })
  for (const f of ['index.html', 'app.css']) copyFileSync(join(ROOT, 'ui', f), join(outdir, f))
  return outdir
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await buildUi(process.argv[2])
