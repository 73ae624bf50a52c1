/**
 * The console's browser tests: the console built where the aggregator serves it from (dist/ui/,
 * as `npm run build` writes it) and Debian's chromium driven by playwright-core (nothing downloads
 * a browser), headless, closed at teardown.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type Browser } from 'playwright-core'

const ROOT = new URL('../../', import.meta.url).pathname

/** Debian's chromium (`apt-get install -y chromium`). */
export const CHROMIUM = '/usr/bin/chromium'

/** True when dist/ui/ is older than a file of ui/ or the build script (or missing). */
function consoleStale(): boolean {
  const built = join(ROOT, 'dist/ui/app.js')
  if (!existsSync(built) || !existsSync(join(ROOT, 'dist/ui/index.html'))) return true
  const sources = [...readdirSync(join(ROOT, 'ui')).map((f) => join(ROOT, 'ui', f)), join(ROOT, 'scripts/ui-build.mjs')]
  return sources.some((f) => statSync(f).mtimeMs > statSync(built).mtimeMs)
}

/**
 * Builds the console into dist/ui/ (scripts/ui-build.mjs) when it is missing or older than its
 * sources; never rebuilt under tests reading it (CI builds it with `npm run build` first).
 * @returns why the browser tests cannot run, or undefined.
 */
export function buildConsole(): string | undefined {
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} is missing: apt-get install -y chromium`
  if (!consoleStale()) return undefined
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts/ui-build.mjs')], { cwd: ROOT, encoding: 'utf8' })
  return r.status === 0 ? undefined : `scripts/ui-build.mjs failed: ${r.stderr}`
}

/** Launches headless chromium (`--no-sandbox`: the tests run as root); closed at teardown. */
export async function launchChromium(t: { teardown(fn: () => unknown): void }): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] })
  t.teardown(() => browser.close())
  return browser
}

/** Polls `pred` every 25 ms until true or `ms` passed. @returns the ms it took, or -1 on timeout. */
export async function within(ms: number, pred: () => Promise<boolean>): Promise<number> {
  const start = Date.now()
  while (Date.now() - start < ms) {
    if (await pred()) return Date.now() - start
    await new Promise((r) => setTimeout(r, 25))
  }
  return -1
}
