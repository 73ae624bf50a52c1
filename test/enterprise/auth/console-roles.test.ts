/**
 * The operator console under RBAC, in a real browser (Debian chromium, playwright-core) against a
 * real aggregator with the enterprise access module and API keys: `GET /v1/whoami` names the
 * key's principal and role; a viewer sees the Quarantine button disabled (saying which role it
 * needs) and the aggregator refuses the same POST made with the viewer's key from the page (403,
 * nothing changes); the control, an operator key, quarantines through the button and the
 * `admin_action` record names the operator's key as the actor.
 */
import t from 'tap'
import type { Browser } from 'playwright-core'
import { createAccess } from '../../../enterprise/auth/index.js'
import { rbacRig } from '../../fixtures/aggregator/rbac.js'
import { buildConsole, launchChromium } from '../../helpers/browser.js'

t.setTimeout(120_000)
const unbuilt = buildConsole()
if (unbuilt) t.fail(unbuilt)

async function signIn(browser: Browser, base: string, key: string) {
  const page = await browser.newPage()
  await page.goto(`${base}/ui/`)
  await page.getByLabel('API key or token').fill(key)
  await page.locator('#sign-in').click()
  await page.locator('#whoami').waitFor({ timeout: 10_000 })
  await page.locator('#providers tr[data-provider=fetch]').waitFor({ timeout: 10_000 })
  return page
}

t.test('buttons follow the role; the aggregator enforces it regardless', async (t) => {
  const rig = await rbacRig(t, { access: createAccess() })
  const viewer = await rig.createKey('viewer-key', 'viewer')
  const operator = await rig.createKey('operator-key', 'operator')
  const me = await rig.call('GET', '/v1/whoami', viewer.key)
  t.equal(me.status, 200)
  t.match(me.json, { id: viewer.id, name: 'viewer-key', role: 'viewer', via: 'api_key', rbac: true })

  const browser = await launchChromium(t)
  const asViewer = await signIn(browser, rig.base, viewer.key)
  t.equal(await asViewer.locator('#whoami').textContent(), 'viewer-key (viewer)')
  const button = asViewer.locator('#providers tr[data-provider=fetch] button[data-action=quarantine]')
  t.ok(await button.isDisabled(), 'a viewer sees Quarantine disabled')
  t.match(await button.getAttribute('title'), /needs role operator; you hold viewer/i)
  const forced = await asViewer.evaluate(`fetch('/v1/providers/fetch/quarantine', { method: 'POST', headers: { Authorization: 'Bearer ' + sessionStorage.getItem('mcp-hangar.console.token'), 'Content-Type': 'application/json' }, body: '{"reason":"forced"}' }).then((r) => r.status)`)
  t.equal(forced, 403, 'the same POST with the viewer key from the page is refused by the aggregator')
  t.equal((await rig.call('GET', '/v1/providers/fetch', operator.key)).json?.quarantined, false, 'nothing changed')

  const asOperator = await signIn(browser, rig.base, operator.key)
  const opButton = asOperator.locator('#providers tr[data-provider=fetch] button[data-action=quarantine]')
  t.ok(await opButton.isEnabled(), 'control: an operator sees it enabled')
  await opButton.click()
  await asOperator.locator('#confirm-reason').fill('from the console')
  await asOperator.locator('#confirm-ok').click()
  await asOperator.locator('#providers tr[data-provider=fetch] button[data-action=approve]').waitFor({ timeout: 5000 })
  t.match((await rig.call('GET', '/v1/providers/fetch', operator.key)).json, { quarantined: true, quarantine_reason: 'from the console' })
  const actions = await rig.waitRecords('admin_action', 1)
  t.ok(actions.some((a) => a.details?.action === 'quarantine' && a.caller === 'operator-key' && a.details?.principal === operator.id), 'the admin_action record names the operator key as the actor')
})
