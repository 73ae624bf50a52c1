/**
 * The console's static files at /ui/ (aggregator/http/ui.ts): the security headers on every
 * answer (a strict CSP, nosniff, no framing), caching (kept but revalidated: no-cache, ETag and
 * 304), only known file types, and the traversal class refused — `..` in any spelling, encoded
 * slashes, dotfiles, a symlink pointing out of the folder — each with a control showing the same
 * request shape serves a file that is really there. Through a real Aggregator: the route table
 * sends /ui and /ui/… there without a credential, and `GET /v1/whoami` tells the caller's role.
 */
import t from 'tap'
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { request } from 'undici'
import { Aggregator } from '../../../aggregator/aggregator.js'
import { serveUi, UI_CSP, UI_SECURITY_HEADERS } from '../../../aggregator/http/ui.js'
import { hangarConfigSchema } from '../../../config/schema.js'
import { handlerServer } from '../../fixtures/aggregator/service.js'
import { captureLog, tempDir } from '../../fixtures/aggregator/signals.js'

/** A console folder with a page, a script, a dotfile, an unknown type and a symlink out; a secret beside it. */
function consoleDir(t: Parameters<typeof tempDir>[0]): string {
  const base = tempDir(t, 'hangar-ui-')
  const dir = join(base, 'ui')
  mkdirSync(dir)
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>c</title>')
  writeFileSync(join(dir, 'app.js'), 'console.log(1)')
  writeFileSync(join(dir, '.env'), 'TOP-SECRET-CONTENT=1')
  writeFileSync(join(dir, 'notes.md'), '# not served')
  writeFileSync(join(base, 'secret.js'), 'TOP-SECRET-CONTENT')
  symlinkSync(join(base, 'secret.js'), join(dir, 'link.js'))
  return dir
}

/** A server answering GET /ui/<rest> with serveUi(rest) as the route table would hand it over (raw path, no decoding). */
async function rig(t: Parameters<typeof tempDir>[0], dir: string | undefined) {
  const { base } = await handlerServer(t, (req, res) => {
    const rest = (req.url ?? '/').replace(/^\/ui\//, '')
    serveUi(req, res, rest === '' ? 'index.html' : rest, dir)
  })
  return async (path: string, headers: Record<string, string> = {}) => {
    const r = await request(base + path, { headers })
    return { status: r.statusCode, headers: r.headers, text: await r.body.text() }
  }
}

t.test('the page and a script: content types, caching, ETag/304, and the security headers', async (t) => {
  const get = await rig(t, consoleDir(t))
  const page = await get('/ui/')
  t.equal(page.status, 200)
  t.match(page.headers['content-type'], /^text\/html; charset=utf-8/)
  t.equal(page.headers['cache-control'], 'no-cache', 'the page is revalidated every time')
  for (const [k, v] of Object.entries(UI_SECURITY_HEADERS)) t.equal(page.headers[k.toLowerCase()], v, `${k} on the page`)
  t.match(UI_CSP, /default-src 'self'/)
  t.match(UI_CSP, /frame-ancestors 'none'/)
  t.notMatch(UI_CSP, /unsafe-inline|unsafe-eval|\*/, 'no inline script or style, no eval, no wildcard')
  const js = await get('/ui/app.js')
  t.equal(js.status, 200)
  t.equal(js.text, 'console.log(1)')
  t.match(js.headers['content-type'], /^text\/javascript/)
  t.equal(js.headers['cache-control'], 'no-cache', 'revalidated too: the page and its script come from one build')
  const again = await get('/ui/app.js', { 'if-none-match': String(js.headers.etag) })
  t.equal(again.status, 304, 'a matching ETag → 304')
  t.equal(again.text, '')
  t.equal((await get('/ui/app.js', { 'if-none-match': '"other"' })).status, 200, 'control: another ETag → the file')
})

t.test('traversal and hidden files are refused; unknown files and types are 404 with the headers', async (t) => {
  const get = await rig(t, consoleDir(t))
  t.equal((await get('/ui/app.js')).status, 200, 'control: a file in the folder is served')
  for (const p of ['/ui/../secret.js', '/ui/..%2fsecret.js', '/ui/%2e%2e/secret.js', '/ui/..\\secret.js', '/ui/.env', '/ui/link.js', '/ui/notes.md', '/ui/missing.js', '/ui/sub/app.js']) {
    const r = await get(p)
    t.equal(r.status, 404, `${p} → 404`)
    t.notMatch(r.text, /TOP-SECRET-CONTENT/, `${p}: nothing of the file outside`)
    t.equal(r.headers['content-security-policy'], UI_CSP, `${p}: the CSP on the error too`)
    t.equal(r.headers['x-content-type-options'], 'nosniff')
  }
})

t.test('not built: 404 naming the build step', async (t) => {
  const get = await rig(t, undefined)
  const r = await get('/ui/')
  t.equal(r.status, 404)
  t.match(r.text, /npm run build/)
})

t.test('through the aggregator: /ui redirects, /ui/… needs no credential, odd paths match no route; /v1/whoami', async (t) => {
  const dir = tempDir(t, 'hangar-ui-agg-')
  const config = hangarConfigSchema.parse({ aggregator: { listen: '127.0.0.1:0', data_dir: dir, signal_tokens: ['sig-ui-1'], admin_tokens: ['adm-ui-1'] } })
  const agg = new Aggregator({ config, log: captureLog().log })
  const base = `http://127.0.0.1:${await agg.start()}`
  t.teardown(() => agg.stop())
  const get = async (path: string, token?: string) => {
    const r = await request(base + path, { headers: token ? { authorization: `Bearer ${token}` } : {} })
    return { status: r.statusCode, headers: r.headers, text: await r.body.text() }
  }
  const root = await get('/ui')
  t.equal(root.status, 308)
  t.equal(root.headers.location, '/ui/')
  const page = await get('/ui/')
  t.not(page.status, 401, '/ui/ needs no credential')
  t.ok(page.status === 200 || page.status === 404, `/ui/ → ${page.status} (404 only when not built)`)
  t.equal(page.headers['content-security-policy'], UI_CSP)
  for (const p of ['/ui/..%2f..%2fpackage.json', '/ui/%2e%2e', '/ui/.hidden.js', '/ui/a/b.js']) t.equal((await get(p)).status, 404, `${p} → 404`)
  t.equal((await get('/ui/../v1/providers')).status, 401, 'a dot-segment path is normalised first: it is the API route, which wants a credential')
  t.equal((await get('/v1/whoami')).status, 401, 'whoami needs a credential')
  t.equal((await get('/v1/whoami', 'sig-ui-1')).status, 401, 'a signal token is not a user')
  const me = await get('/v1/whoami', 'adm-ui-1')
  t.equal(me.status, 200)
  t.same(JSON.parse(me.text), { id: 'token:admin', name: 'admin token', role: 'admin', via: 'static_token', rbac: false })
})
