/**
 * `npm run screenshots`: renders the operator console's pages in Debian's chromium
 * (playwright-core, `/usr/bin/chromium`) against a real stack made for the purpose, and writes
 * them to docs/img/console-*.png for docs/console.md and the README. The stack: an aggregator on
 * a loopback port and one sidecar (the CLI from source) in front of the stdio fixture server,
 * denying its `crash` tool and every destination but api.example.com; the script makes a tool
 * denial and an egress denial through it, so the pages show real decisions. Everything runs on
 * loopback in a temp dir and is stopped (browser, sidecar, aggregator) before it exits.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLogger } from '../core/log.js'
import { startConsoleStack } from '../test/fixtures/console-stack.js'
import { buildConsole, launchChromium } from '../test/helpers/browser.js'
import { connectClient, freePort } from '../test/helpers/mcp.js'
import { rawExchange } from '../test/helpers/net.js'

const ROOT = new URL('../', import.meta.url).pathname
const OUT = join(ROOT, 'docs/img')
const SIGNAL = 'signal-token-screens'
const ADMIN = 'admin-token-screens'

const cleanups: Array<() => unknown> = []
const life = { teardown: (fn: () => unknown) => void cleanups.unshift(fn) }

async function main(): Promise<void> {
  const unbuilt = buildConsole()
  if (unbuilt) throw new Error(unbuilt)
  const dir = mkdtempSync(join(tmpdir(), 'hangar-screens-'))
  life.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const { base, proxyPort: proxy, mcpPort: mcp } = await startConsoleStack(life, { dir, provider: 'fetch', signalToken: SIGNAL, adminToken: ADMIN, log: createLogger({ level: 'warn', json: true, name: 'aggregator' }) })
  const client = await connectClient(new URL(`http://127.0.0.1:${mcp}/mcp`))
  life.teardown(() => client.close())
  await client.callTool({ name: 'echo', arguments: { text: 'hi' } })
  await client.callTool({ name: 'crash', arguments: {} }).catch(() => undefined)
  const denied = await freePort()
  const a = await rawExchange(proxy, `CONNECT 127.0.0.1:${denied} HTTP/1.1\r\nHost: 127.0.0.1:${denied}\r\n\r\n`)
  a.socket.destroy()

  const browser = await launchChromium(life)
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } })
  mkdirSync(OUT, { recursive: true })
  await page.goto(`${base}/ui/`)
  await page.screenshot({ path: join(OUT, 'console-sign-in.png') })
  await page.getByLabel('API key or token').fill(ADMIN)
  await page.locator('#sign-in').click()
  await page.locator('#providers tr[data-provider=fetch] td[data-col=state]:text-is("ready")').waitFor({ timeout: 30_000 })
  await page.screenshot({ path: join(OUT, 'console-providers.png') })
  await page.locator('#providers tr[data-provider=fetch] button[data-action=quarantine]').click()
  await page.locator('#confirm-reason').fill('suspected exfiltration')
  await page.screenshot({ path: join(OUT, 'console-quarantine.png') })
  await page.locator('#confirm-cancel').click()
  await page.locator('#nav-live').click()
  await page.locator('#violations td[data-col=type]:text-is("egress_denied")').waitFor({ timeout: 10_000 })
  await page.locator('#violations tbody tr:has(td[data-col=type]:text-is("egress_denied")) button').first().click()
  await page.screenshot({ path: join(OUT, 'console-live.png'), fullPage: true })
  console.log(`wrote ${['sign-in', 'providers', 'quarantine', 'live'].map((n) => `docs/img/console-${n}.png`).join(', ')}`)
}

try {
  await main()
} finally {
  for (const fn of cleanups) await fn()
}
