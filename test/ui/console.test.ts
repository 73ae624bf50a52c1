/**
 * The operator console in a real browser: Debian's chromium driven by playwright-core (nothing
 * downloads a browser), against a real aggregator fed by a real sidecar (the CLI from source, in
 * front of the stdio fixture server, denying the `crash` tool and every loopback destination).
 *
 * - sign-in keeps the credential out of every URL and sends it as a bearer header only;
 * - the Providers page shows what `GET /v1/providers` says;
 * - a tool denial and an egress denial made during the test appear in Live violations within 2 s,
 *   with their rule, reason and destination/tool in the detail view;
 * - the Quarantine button (after its confirmation) quarantines: a following tool call through the
 *   sidecar is refused; Release lifts it;
 * - the CSP blocks an inline script injected into the page, while the bundled script runs; the
 *   control serves the same injected page without the CSP and the inline script does run.
 * The browser, the sidecar and the aggregator are stopped in teardown.
 */
import t from 'tap'
import type { Page, Request } from 'playwright-core'
import { Aggregator } from '../../aggregator/aggregator.js'
import { hangarConfigSchema } from '../../config/schema.js'
import { buildConsole, launchChromium, within } from '../helpers/browser.js'
import { rawExchange } from '../helpers/net.js'
import { connectClient, freePort } from '../helpers/mcp.js'
import { startConsoleStack } from '../fixtures/console-stack.js'
import { captureLog, signals, tempDir } from '../fixtures/aggregator/signals.js'

const SIGNAL = 'signal-token-ui'
const ADMIN = 'admin-token-ui-0123456789'

t.setTimeout(180_000)
const unbuilt = buildConsole()
if (unbuilt) t.fail(unbuilt)
const launch = launchChromium

/**
 * Run in the page: each element of the console holding text whose WCAG 2.1 contrast ratio
 * (relative luminance, success criterion 1.4.3) with its effective background is below 4.5:1.
 */
const LOW_CONTRAST = `(() => {
  const rgb = (c) => (c.match(/[0-9.]+/g) || []).map(Number)
  const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4 }).reduce((a, v, i) => a + v * [0.2126, 0.7152, 0.0722][i], 0)
  const bg = (e) => { for (; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor); if (c.length === 3 || c[3] > 0) return c.slice(0, 3) } return [255, 255, 255] }
  const out = []
  for (const e of document.querySelectorAll('#app *')) {
    if (![...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim()) || e.closest('.sr-only')) continue
    const a = lum(rgb(getComputedStyle(e).color).slice(0, 3)), b = lum(bg(e))
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)
    if (ratio < 4.5) out.push(e.tagName + ' ' + e.textContent.trim().slice(0, 30) + ' ' + ratio.toFixed(2))
  }
  return out
})()`

t.test('the console against a real aggregator and sidecar', async (t) => {
  const dir = tempDir(t, 'hangar-ui-e2e-')
  // A loopback port the provider may not reach: its CONNECT is the egress denial.
  const deniedPort = await freePort()

  const { base, proxyPort, mcpPort } = await startConsoleStack(t, { dir, provider: 'fixture', signalToken: SIGNAL, adminToken: ADMIN, log: captureLog().log })
  const api = async <T>(path: string): Promise<T> => (await (await fetch(base + path, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as T
  t.ok(await within(20_000, async () => (await api<{ state?: string }>('/v1/providers/fixture')).state === 'ready') >= 0, 'the sidecar registered with the aggregator')

  const user = await connectClient(new URL(`http://127.0.0.1:${mcpPort}/mcp`))
  t.teardown(() => user.close())
  const call = (name: string) => user.callTool({ name, arguments: name === 'echo' ? { text: 'hi' } : {} }).then(
    (r) => ({ ok: !r.isError, err: undefined as (Error & { data?: { rule?: string } }) | undefined }),
    (err: Error & { data?: { rule?: string } }) => ({ ok: false, err }))
  t.equal((await call('echo')).ok, true, 'control: an allowed tool call passes')

  const browser = await launch(t)
  const page = await browser.newPage()
  const requests: Request[] = []
  page.on('request', (r) => requests.push(r))
  const pageErrors: string[] = []
  page.on('pageerror', (e) => pageErrors.push(e.message))

  await t.test('sign-in: the credential goes in a header, never in a URL', async (t) => {
    await page.goto(`${base}/ui/`)
    await page.getByLabel('API key or token').fill(ADMIN)
    await page.keyboard.press('Enter')
    await page.locator('#whoami').waitFor({ timeout: 10_000 })
    t.match(await page.locator('#whoami').textContent(), /admin token \(admin\)/)
    t.notOk(requests.some((r) => r.url().includes(ADMIN)), 'no request URL holds the token')
    const whoami = requests.find((r) => r.url().endsWith('/v1/whoami'))
    t.equal(await whoami?.headerValue('authorization'), `Bearer ${ADMIN}`, 'the API call carried it as a bearer header')
    t.equal(await page.evaluate('document.cookie'), '', 'no cookie')
    t.equal(await page.evaluate('sessionStorage.length'), 1, 'kept in sessionStorage')
  })

  await t.test('Providers matches GET /v1/providers', async (t) => {
    await page.locator('#providers tbody tr').first().waitFor({ timeout: 10_000 })
    const listed = (await api<{ providers: Array<{ name: string; state: string; isolation?: string; quarantined: boolean }> }>('/v1/providers')).providers
    const rows = await page.locator('#providers tbody tr').evaluateAll((trs) => trs.map((tr) => ({
      name: tr.getAttribute('data-provider'),
      state: tr.querySelector('[data-col=state]')?.textContent,
      isolation: tr.querySelector('[data-col=isolation]')?.textContent,
      quarantine: tr.querySelector('[data-col=quarantine]')?.textContent,
    })))
    t.same(rows.map((r) => r.name), listed.map((p) => p.name), 'the same providers in the same order')
    for (const p of listed) {
      const row = rows.find((r) => r.name === p.name)!
      t.equal(row.state, p.state, `${p.name}: state`)
      t.equal(row.quarantine, p.quarantined ? 'quarantined' : 'no', `${p.name}: quarantine`)
      t.match(row.isolation, p.isolation === 'cooperative' ? /⚠ cooperative/ : (p.isolation ?? 'unknown'), `${p.name}: isolation ${p.isolation}`)
    }
  })

  await t.test('a denial made now appears in Live violations within 2 s, with its detail', async (t) => {
    await page.locator('#nav-live').click()
    await page.locator('#stream-state[data-state=live]').waitFor({ timeout: 10_000 })
    const seen = (type: string) => page.locator(`#violations tbody tr:has(td[data-col=type]:text-is("${type}"))`).count().then((n) => n > 0)
    t.notOk(await seen('tool_denied'), 'no tool denial before the test makes one')
    const denied = await call('crash')
    t.equal(denied.err?.data?.rule, 'tools.deny_list[0]', 'control: the sidecar refused the call by its deny_list')
    const toolMs = await within(2000, () => seen('tool_denied'))
    t.ok(toolMs >= 0, `the tool denial is shown within 2 s (${toolMs} ms)`)

    const a = await rawExchange(proxyPort, `CONNECT 127.0.0.1:${deniedPort} HTTP/1.1\r\nHost: 127.0.0.1:${deniedPort}\r\n\r\n`)
    a.socket.destroy()
    t.equal(a.status, 403, 'control: the sidecar refused the CONNECT')
    const egressMs = await within(2000, () => seen('egress_denied'))
    t.ok(egressMs >= 0, `the egress denial is shown within 2 s (${egressMs} ms)`)

    const field = (k: string) => page.locator(`#detail dd[data-field="${k}"]`).textContent()
    await page.locator('#violations tbody tr:has(td[data-col=target]:text-is("crash")) button').first().click()
    t.equal(await field('type'), 'tool_denied')
    t.equal(await field('tool'), 'crash')
    t.equal(await field('rule'), 'tools.deny_list[0]', 'the rule the call broke')
    t.equal(await field('provider'), 'fixture')
    await page.locator(`#violations tbody tr:has(td[data-col=target]:text-is("127.0.0.1:${deniedPort} (tcp)")) button`).first().click()
    t.equal(await field('type'), 'egress_denied')
    t.match(await field('destination'), `127.0.0.1:${deniedPort}`)
    t.not(await field('rule'), '—', 'the rule is shown')
    t.match(await field('reason'), /\S/, 'the reason is shown')

    // Filters: severity and type narrow the list; "all" brings everything back.
    const count = () => page.locator('#violations tbody tr').count()
    const all = await count()
    await page.locator('#f-type').selectOption('tool_denied')
    t.ok(await count() >= 1 && await count() < all, 'the type filter narrows the list')
    t.equal(await page.locator('#violations td[data-col=type]:text-is("egress_denied")').count(), 0, 'no other type left')
    await page.locator('#f-type').selectOption('')
    await page.locator('#f-severity').selectOption('info')
    t.equal(await count(), 0, 'no info-severity violations')
    await page.locator('#f-severity').selectOption('')
    t.equal(await count(), all, 'clearing the filters shows all again')
  })

  await t.test('Quarantine (confirmed) refuses the next tool call; Release lifts it', async (t) => {
    await page.locator('#nav-providers').click()
    const row = page.locator('#providers tr[data-provider=fixture]')
    await row.locator('button[data-action=quarantine]').click()
    await page.locator('#confirm-cancel').click()
    t.equal((await api<{ quarantined: boolean }>('/v1/providers/fixture')).quarantined, false, 'Cancel does nothing')
    await row.locator('button[data-action=quarantine]').click()
    await page.locator('#confirm-reason').fill('console test')
    await page.locator('#confirm-ok').click()
    await row.locator('button[data-action=approve]').waitFor({ timeout: 5000 })
    const p = await api<{ quarantined: boolean; quarantine_reason?: string }>('/v1/providers/fixture')
    t.match(p, { quarantined: true, quarantine_reason: 'console test' })
    const refusedMs = await within(3000, async () => (await call('echo')).err?.data?.rule === 'quarantine')
    t.ok(refusedMs >= 0, `a tool call through the sidecar is refused by the quarantine (${refusedMs} ms)`)
    t.equal(await row.locator('[data-col=quarantine]').textContent(), 'quarantined')

    await row.locator('button[data-action=approve]').click()
    await page.locator('#confirm-ok').click()
    await row.locator('button[data-action=quarantine]').waitFor({ timeout: 5000 })
    const backMs = await within(3000, async () => (await call('echo')).ok)
    t.ok(backMs >= 0, `Release lifts it: the tool call passes again (${backMs} ms)`)
  })

  await t.test('accessible: keyboard-only quarantine dialog, named controls, AA contrast', async (t) => {
    await page.locator('#nav-providers').click()
    await page.locator('#providers tr[data-provider=fixture] button[data-action=quarantine]').waitFor()
    let reached = false
    for (let i = 0; i < 30 && !reached; i++) {
      await page.keyboard.press('Tab')
      reached = await page.evaluate(`document.activeElement?.getAttribute('aria-label') === 'Quarantine fixture'`) === true
    }
    t.ok(reached, 'Tab reaches the Quarantine button')
    await page.keyboard.press('Enter')
    t.ok(await page.locator('dialog[open]').waitFor({ timeout: 2000 }).then(() => true, () => false), 'Enter opens the confirmation')
    t.equal(await page.evaluate(`document.activeElement?.id`), 'confirm-reason', 'focus moves into the dialog')
    await page.keyboard.press('Escape')
    t.ok(await page.locator('dialog').waitFor({ state: 'detached', timeout: 2000 }).then(() => true, () => false), 'Escape cancels it')
    t.equal((await api<{ quarantined: boolean }>('/v1/providers/fixture')).quarantined, false, 'and nothing was done')
    for (const view of ['providers', 'live'] as const) {
      await page.locator(`#nav-${view}`).click()
      await page.locator(view === 'live' ? '#violations' : '#providers').waitFor()
      const unnamed = await page.evaluate(`[...document.querySelectorAll('button, input, select')].filter((e) => !(e.getAttribute('aria-label') || e.textContent.trim() && e.tagName === 'BUTTON' || e.labels?.length)).map((e) => e.outerHTML.slice(0, 80))`)
      t.same(unnamed, [], `${view}: every control has a name`)
      // WCAG 2.1 contrast ratio (relative luminance, §1.4.3) of each text element on its effective background.
      const low = await page.evaluate(LOW_CONTRAST)
      t.same(low, [], `${view}: every text meets 4.5:1`)
    }
    // Control: the check finds a planted light-grey text (#bbb on white is 1.9:1).
    await page.evaluate(`(() => { const e = document.createElement('span'); e.textContent = 'planted'; e.style.color = '#bbbbbb'; document.querySelector('main').append(e) })()`)
    t.match(await page.evaluate(LOW_CONTRAST), [/^SPAN planted 1\.9/], 'control: a low-contrast text is found')
  })

  t.same(pageErrors, [], 'no script error in the page')
})

t.test('the CSP: an injected inline script does not run; the bundled script does; control without the CSP', async (t) => {
  const dir = tempDir(t, 'hangar-ui-csp-')
  const agg = new Aggregator({
    config: hangarConfigSchema.parse({ aggregator: { listen: '127.0.0.1:0', data_dir: dir, signal_tokens: [SIGNAL], admin_tokens: [ADMIN] } }),
    log: captureLog().log,
  })
  const base = `http://127.0.0.1:${await agg.start()}`
  t.teardown(() => agg.stop())
  const browser = await launch(t)
  const inject = async (keepCsp: boolean): Promise<Page> => {
    const page = await browser.newPage()
    await page.route(`${base}/ui/`, async (route) => {
      const res = await route.fetch()
      const headers = res.headers()
      if (!keepCsp) delete headers['content-security-policy']
      const html = (await res.text()).replace('<body>', '<body><script>window.__injected = 1</script><img src=x onerror="window.__handler = 1">')
      await route.fulfill({ status: res.status(), headers, body: html })
    })
    await page.goto(`${base}/ui/`)
    await page.getByLabel('API key or token').waitFor({ timeout: 10_000 })
    return page
  }
  const withCsp = await inject(true)
  const csp = (await withCsp.request.get(`${base}/ui/`)).headers()['content-security-policy']
  t.match(csp, /default-src 'self'/, 'the page carries the CSP')
  t.equal(await withCsp.evaluate('window.__injected'), undefined, 'the injected inline script did not run')
  t.equal(await withCsp.evaluate('window.__handler'), undefined, 'the injected inline handler did not run')
  t.ok(await withCsp.locator('#token').isVisible(), 'the bundled script ran (it rendered the sign-in form)')
  const without = await inject(false)
  await within(2000, async () => (await without.evaluate('window.__handler')) === 1)
  t.equal(await without.evaluate('window.__injected'), 1, 'control: without the CSP the inline script runs')
  t.equal(await without.evaluate('window.__handler'), 1, 'control: and the inline handler too')
})

t.test('Live violations: hostile text stays text; after the aggregator restarts the stream resumes with Last-Event-ID', async (t) => {
  const dir = tempDir(t, 'hangar-ui-resume-')
  const port = await freePort()
  const config = hangarConfigSchema.parse({ aggregator: { listen: `127.0.0.1:${port}`, data_dir: dir, signal_tokens: [SIGNAL], admin_tokens: [ADMIN] } })
  const start = async () => {
    const agg = new Aggregator({ config, log: captureLog().log })
    await agg.start()
    return agg
  }
  let agg = await start()
  t.teardown(() => agg.stop())
  const base = `http://127.0.0.1:${port}`
  const now = Date.now()
  const post = async (from: number, to: number) => {
    const batch = signals(from, to).map((s, i) => ({ ...s, time: new Date(now + i).toISOString(), reason: `<img src=x onerror="window.__xss=1">refused #${from + i}` }))
    const r = await fetch(`${base}/v1/signals`, { method: 'POST', headers: { authorization: `Bearer ${SIGNAL}`, 'content-type': 'application/json' }, body: JSON.stringify({ signals: batch }) })
    t.equal(r.status, 202, `signals ${from}..${to - 1} ingested`)
  }
  await post(1, 4)

  const browser = await launch(t)
  const page = await browser.newPage()
  const streams: Request[] = []
  page.on('request', (r) => {
    if (r.url().includes('/v1/signals/stream')) streams.push(r)
  })
  await page.goto(`${base}/ui/`)
  await page.getByLabel('API key or token').fill(ADMIN)
  await page.locator('#sign-in').click()
  await page.locator('#nav-live').click()
  const rows = () => page.locator('#violations tbody tr').count()
  t.ok(await within(5000, async () => (await rows()) === 3) >= 0, 'the three violations are shown')
  await page.locator('#violations tbody tr button').first().click()
  t.match(await page.locator('#detail dd[data-field=reason]').textContent(), /^<img src=x onerror="window.__xss=1">refused #3$/, 'a reason holding HTML is shown as text')
  t.equal(await page.locator('#app img').count(), 0, 'no element was made from it')
  t.equal(await page.evaluate('window.__xss'), undefined, 'and nothing of it ran')

  await agg.stop()
  t.ok(await within(5000, async () => (await page.locator('#stream-state').getAttribute('data-state')) === 'reconnecting') >= 0, 'the page notices the stream ended')
  agg = await start()
  await post(4, 6)
  t.ok(await within(5000, async () => (await rows()) === 5) >= 0, 'the violations sent after the restart are shown')
  t.equal(await page.locator('#stream-state').getAttribute('data-state'), 'live')
  const resumed = streams.at(-1)!
  t.equal(streams[0] && (await streams[0].headerValue('last-event-id')), null, 'the first connection starts from the beginning')
  t.equal(await resumed.headerValue('last-event-id'), '3', 'the reconnect resumed after the last event seen')
  t.equal(await resumed.headerValue('authorization'), `Bearer ${ADMIN}`, 'with the credential in its header')
  t.notOk(streams.some((r) => r.url().includes(ADMIN)), 'and never in its URL')
})
