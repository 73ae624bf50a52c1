// DNS-rebinding protection (proxy/http/origin.ts): absent Origin passes, loopback by default,
// `*`, exact normalised entries, `null` refused, bad config entries rejected at load.
import t from 'tap'
import { ConfigError, ERROR_CODES } from '../../../core/errors.js'
import { checkOrigin, compileOrigins, normalizeOrigin } from '../../../proxy/http/origin.js'

t.test('normalizeOrigin serialises origins as RFC 6454 does', async (t) => {
  const cases: Array<[string, string | undefined]> = [
    ['https://app.example.com', 'https://app.example.com'],
    ['HTTPS://App.Example.COM', 'https://app.example.com'],
    ['https://app.example.com:443', 'https://app.example.com'],
    ['http://app.example.com:80', 'http://app.example.com'],
    ['http://app.example.com:8080', 'http://app.example.com:8080'],
    ['https://app.example.com:80', 'https://app.example.com:80'],
    ['http://[0:0:0:0:0:0:0:1]:3000', 'http://[::1]:3000'],
    ['http://bücher.example', 'http://xn--bcher-kva.example'],
    ['vscode-webview://ABC123', 'vscode-webview://abc123'],
    ['https://app.example.com/', undefined],
    ['https://app.example.com/path', undefined],
    ['https://app.example.com?q', undefined],
    ['https://app.example.com#f', undefined],
    ['https://user@app.example.com', undefined],
    ['https://app.example.com:99999', undefined],
    ['app.example.com', undefined],
    ['null', undefined],
    ['https://', undefined],
    ['://x', undefined],
    ['1http://x', undefined],
  ]
  for (const [input, out] of cases) t.equal(normalizeOrigin(input), out, input)
})

t.test('default policy: loopback origins on any port, nothing else', async (t) => {
  const p = compileOrigins(undefined)
  const allowed = [undefined, 'http://localhost', 'http://localhost:6274', 'https://localhost:8443', 'http://127.0.0.1:3000', 'http://[::1]:5173', 'HTTP://LOCALHOST:3000', 'http://localhost:80', 'http://[0:0:0:0:0:0:0:1]']
  for (const o of allowed) t.equal(checkOrigin(p, o).ok, true, String(o))
  const denied = ['null', 'http://evil.example', 'http://localhost.evil.example', 'http://127.0.0.1.nip.io', 'http://127.0.0.2', 'ftp://localhost', 'http://localhost/', 'http://localhost:3000 http://evil.example', 'http://evil.example#http://localhost']
  for (const o of denied) {
    const r = checkOrigin(p, o)
    t.equal(r.ok, false, o)
    if (!r.ok) {
      t.equal(r.status, 403)
      t.equal(r.reason, 'origin')
    }
  }
})

t.test('an explicit list replaces the loopback default and compares normalised origins', async (t) => {
  const p = compileOrigins(['https://App.Example.com:443/', 'http://localhost:6274'])
  t.strictSame([...p.exact].sort(), ['http://localhost:6274', 'https://app.example.com'])
  t.equal(checkOrigin(p, 'https://app.example.com').ok, true)
  t.equal(checkOrigin(p, 'https://APP.example.com:443').ok, true, 'normalised on the slow path')
  t.equal(checkOrigin(p, 'http://localhost:6274').ok, true)
  t.equal(checkOrigin(p, 'http://localhost:3000').ok, false, 'other loopback ports are not listed')
  t.equal(checkOrigin(p, 'http://app.example.com').ok, false, 'scheme matters')
  t.equal(checkOrigin(p, 'https://app.example.com:8443').ok, false, 'port matters')
  t.equal(checkOrigin(p, 'https://sub.app.example.com').ok, false, 'no implicit subdomains')
  t.equal(checkOrigin(p, 'null').ok, false)
  t.equal(checkOrigin(p, undefined).ok, true, 'no Origin: a non-browser client')
})

t.test('* admits every origin, null included; an empty list admits none', async (t) => {
  const any = compileOrigins(['*'])
  for (const o of ['null', 'https://anything.example', 'http://localhost']) t.equal(checkOrigin(any, o).ok, true, o)
  const none = compileOrigins([])
  t.equal(checkOrigin(none, 'http://localhost').ok, false)
  t.equal(checkOrigin(none, undefined).ok, true)
})

t.test('bad entries are a ConfigError naming each one', async (t) => {
  const err = t.throws(() => compileOrigins(['https://ok.example', 'ok.example', 'https://x.example/path', 'null'], 'providers.fetch.ingress.allowed_origins')) as ConfigError
  t.type(err, ConfigError)
  t.equal(err.code, ERROR_CODES.CONFIG_INVALID)
  t.strictSame(
    err.issues.map((i) => i.path),
    ['providers.fetch.ingress.allowed_origins[1]', 'providers.fetch.ingress.allowed_origins[2]', 'providers.fetch.ingress.allowed_origins[3]'],
  )
  t.match(err.issues[0]!.message, /scheme:\/\/host\[:port\]/)
})
