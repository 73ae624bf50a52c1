/**
 * `mcp-hangar baseline show` and `mcp-hangar profile suggest` (cli/baseline.ts, cli/profile.ts)
 * through their run functions with captured output: every baseline source (a file, an aggregator
 * and a sidecar admin listener served by node:http on 127.0.0.1, the config's aggregator and the
 * sidecar's data_dir fallback), exit codes and error messages; and the commander wiring.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Command } from 'commander'
import t from 'tap'
import { parse as parseYaml } from 'yaml'
import { baselineFileCandidates, loadBaselineSource, registerBaselineCommands, runBaselineShow, type BaselineCommandIo } from '../../cli/baseline.js'
import { registerProfileCommands, runProfileSuggest } from '../../cli/profile.js'
import { loadProfile } from '../../config/load.js'
import { ERROR_CODES } from '../../core/errors.js'
import type { Baseline } from '../../policy/baseline-schema.js'

const T0 = '2026-11-22T10:00:01.000Z'
const T1 = '2026-11-22T10:04:55.000Z'
const TOKEN = 'admin-token-baseline-cli'

function fixture(provider = 'fetch'): Baseline {
  const rec = { errors: 0, count: 2, bytes_up: 100, bytes_down: 2000, first_seen: T0, last_seen: T1 }
  return {
    schema: 'hangar.baseline/v1', provider, enforcement_mode: 'alert', started: T0, updated: T1, revision: 20, events: 20,
    limits: { max_destinations: 1000, max_dns_names: 2000, max_tools: 256, rate_minutes: 1440 },
    dropped: { destinations: 0, dns_names: 0, tools: 0 },
    egress: [
      ...['a', 'b', 'c'].map((h) => ({ ...rec, host: `${h}.docs.example.com`, port: 443, protocol: 'https' as const, via: { transparent_tls: 2 }, actions: { alerted: 2 }, addresses: [{ ip: '93.184.216.34', class: 'global' }] })),
      { ...rec, host: 'db.internal', port: 5432, protocol: 'tunnel' as const, via: { connect: 2 }, actions: { alerted: 2 }, content: { other: 2 }, addresses: [{ ip: '10.1.2.3', class: 'private' }] },
      { ...rec, host: 'evil.example.net', port: 443, protocol: 'tunnel' as const, via: { connect: 2 }, actions: { blocked: 2 }, addresses: [] },
    ],
    dns: [{ name: 'a.docs.example.com', qtypes: { A: 2 }, actions: { alerted: 2 }, answers: { A: 2 }, count: 2, first_seen: T0, last_seen: T1 }],
    tools: [
      { name: 'read', listed: 2, calls: 5, errors: 0, refused: 0, argument_keys: ['path'], digests: [`sha256:${'a'.repeat(64)}`], first_seen: T0, last_seen: T1 },
      { name: 'write', listed: 2, calls: 0, errors: 0, refused: 0, argument_keys: [], digests: [`sha256:${'b'.repeat(64)}`], first_seen: T0, last_seen: T1 },
    ],
    call_rate: { active_minutes: 3, min: 1, median: 2, p95: 2, max: 2 }, call_minutes: [[29000000, 1], [29000001, 2], [29000002, 2]],
  }
}

const dir = mkdtempSync(join(tmpdir(), 'hangar-baseline-cli-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const file = (name: string, text: string) => {
  const p = join(dir, name)
  mkdirSync(join(p, '..'), { recursive: true })
  writeFileSync(p, text)
  return p
}
const good = file('fetch.baseline.json', JSON.stringify(fixture()))

function capture(): BaselineCommandIo & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = []
  const stderr: string[] = []
  return { stdout, stderr, out: (l) => stdout.push(l), err: (l) => stderr.push(l) }
}

/** A tiny HTTP server on 127.0.0.1 answering `routes[path]` (status, body), recording each request's path and Authorization. */
async function serve(routes: Record<string, [number, unknown]>): Promise<{ url: string; seen: Array<{ path: string; auth?: string }>; close(): Promise<void> }> {
  const seen: Array<{ path: string; auth?: string }> = []
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    seen.push({ path: req.url ?? '', ...(req.headers.authorization && { auth: req.headers.authorization }) })
    const r = routes[req.url ?? '']
    const [status, body] = r ?? [404, { error: { code: 'not_found', message: `no route ${req.url}` } }]
    if (status === 401 || (r && req.headers.authorization !== `Bearer ${TOKEN}`)) {
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'unauthorized', message: 'a valid bearer token is required' } }))
      return
    }
    res.writeHead(status, { 'content-type': 'application/json' }).end(typeof body === 'string' ? body : JSON.stringify(body))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}`, seen, close: () => new Promise((r) => server.close(() => r())) }
}

/** A port nothing listens on (a server bound, then closed). */
async function deadUrl(): Promise<string> {
  const s = await serve({})
  await s.close()
  return s.url
}

const config = (name: string, aggregator: string | undefined, dataDir: string, provider = 'fetch') =>
  file(name, `${aggregator ? `aggregator:\n  url: ${aggregator}\n  admin_tokens: [${TOKEN}]\n` : ''}providers:
  ${provider}:
    mode: remote
    endpoint: http://127.0.0.1:9/mcp
    sidecar:
      data_dir: ${dataDir}
`)

t.test('baseline show --baseline FILE: the tables, or --json the document; the source on stderr', async (t) => {
  let io = capture()
  t.equal(await runBaselineShow({ baseline: good }, io), 0)
  t.same(io.stderr, [`baseline of "fetch" from ${good}`])
  const text = io.stdout.join('\n')
  t.match(text, /^PROVIDER {3}fetch\nWINDOW {5}2026-11-22T10:00:01Z … 10:04:55Z\n/)
  t.match(text, /\nEGRESS \(5\)\nDESTINATION\s+PROTO\s+VIA\s+COUNT\s+ALLOWED\/ALERTED\/BLOCKED\s+BYTES UP\/DOWN\s+ADDRESSES\s+LAST SEEN\n/)
  t.match(text, /db\.internal:5432\s+tunnel\/other\s+connect\s+2\s+0\/2\/0\s+100 B\/2\.0 KiB\s+10\.1\.2\.3 \(private\)/)
  t.match(text, /\nCALL RATE {2}calls\/minute over 3 active minutes: min 1, median 2, p95 2, max 2$/)
  io = capture()
  t.equal(await runBaselineShow({ baseline: good, json: true }, io), 0)
  t.same(JSON.parse(io.stdout.join('\n')), fixture(), '--json prints the document')
})

t.test('--baseline FILE: missing, not JSON, not a baseline, another provider → exit 2 with the reason', async (t) => {
  const cases: Array<[string, string | undefined, RegExp]> = [
    [join(dir, 'nope.json'), undefined, /^mcp-hangar: no baseline: .*nope\.json: not found$/],
    [file('bad.json', '{"schema": "hangar.baseline/v1",'), undefined, /^mcp-hangar: .*bad\.json: not JSON: /],
    [file('wrong.json', JSON.stringify({ ...fixture(), egress: [{ host: 'x', port: 99999 }] })), undefined, /^mcp-hangar: .*wrong\.json: not a hangar\.baseline\/v1 document: egress\.0\.port: /],
    [good, 'github', /^mcp-hangar: .*fetch\.baseline\.json holds the baseline of provider "fetch", not "github"$/],
  ]
  for (const [path, provider, want] of cases) {
    const io = capture()
    t.equal(await runBaselineShow({ baseline: path, ...(provider && { provider }) }, io), 2, `${path}: exit 2`)
    t.same(io.stdout, [])
    t.match(io.stderr, [want])
  }
  await t.rejects(loadBaselineSource({ baseline: join(dir, 'bad.json') }), { code: ERROR_CODES.BASELINE_INVALID })
  await t.rejects(loadBaselineSource({ baseline: join(dir, 'nope.json') }), { code: ERROR_CODES.BASELINE_UNAVAILABLE })
})

t.test('usage: one source at most; a provider unless the source names it', async (t) => {
  await t.rejects(loadBaselineSource({ baseline: good, admin: 'http://127.0.0.1:1' }), { code: ERROR_CODES.USAGE, message: 'give one baseline source, not --baseline and --admin' })
  await t.rejects(loadBaselineSource({ fromAggregator: 'http://127.0.0.1:1' }), { code: ERROR_CODES.USAGE, message: /--provider NAME is required/ })
  await t.rejects(loadBaselineSource({ provider: 'fetch', fromAggregator: 'not a url' }), { code: ERROR_CODES.USAGE, message: /--from-aggregator: "not a url" is not a URL/ })
})

t.test('--from-aggregator URL and --admin URL: GET with the bearer token; errors name the source', async (t) => {
  const srv = await serve({ '/v1/providers/fetch/baseline': [200, fixture()], '/v1/baseline': [200, fixture()], '/v1/providers/other/baseline': [404, { error: { code: 'not_found', message: 'provider "other" has not shipped a baseline yet' } }] })
  t.teardown(() => srv.close())
  let r = await loadBaselineSource({ provider: 'fetch', fromAggregator: srv.url, token: TOKEN })
  t.equal(r.source, `aggregator ${srv.url}/v1/providers/fetch/baseline`)
  t.same(r.baseline, fixture())
  t.same(srv.seen.at(-1), { path: '/v1/providers/fetch/baseline', auth: `Bearer ${TOKEN}` })
  r = await loadBaselineSource({ admin: `${srv.url}/`, token: TOKEN })
  t.equal(r.source, `sidecar admin ${srv.url}/v1/baseline`, 'the provider is optional with --admin')
  t.equal(r.baseline.provider, 'fetch')

  const cfg = config('token.yaml', 'http://127.0.0.1:1', './d')
  r = await loadBaselineSource({ provider: 'fetch', fromAggregator: srv.url, config: cfg })
  t.same(srv.seen.at(-1)?.auth, `Bearer ${TOKEN}`, "the token defaults to the config's first admin token")

  let io = capture()
  t.equal(await runBaselineShow({ provider: 'fetch', fromAggregator: srv.url, config: join(dir, 'none.yaml') }, io), 2, 'no token')
  t.same(io.stderr, [`mcp-hangar: no baseline: aggregator ${srv.url}/v1/providers/fetch/baseline: HTTP 401: a valid bearer token is required`])
  io = capture()
  t.equal(await runBaselineShow({ provider: 'other', fromAggregator: srv.url, token: TOKEN }, io), 2)
  t.same(io.stderr, [`mcp-hangar: no baseline: aggregator ${srv.url}/v1/providers/other/baseline: HTTP 404: provider "other" has not shipped a baseline yet`])
  io = capture()
  t.equal(await runBaselineShow({ provider: 'github', admin: srv.url, token: TOKEN }, io), 2)
  t.same(io.stderr, [`mcp-hangar: sidecar admin ${srv.url}/v1/baseline holds the baseline of provider "fetch", not "github"`])
  const dead = await deadUrl()
  io = capture()
  t.equal(await runBaselineShow({ provider: 'fetch', fromAggregator: dead, token: TOKEN }, io), 2)
  t.match(io.stderr, [new RegExp(`^mcp-hangar: no baseline: aggregator ${dead}/v1/providers/fetch/baseline: unreachable \\(.*ECONNREFUSED`)])
})

t.test('an HTTP answer that is not JSON or not a baseline → exit 2, HANGAR_BASELINE_INVALID', async (t) => {
  const srv = await serve({ '/v1/baseline': [200, 'not json'], '/v1/providers/fetch/baseline': [200, { schema: 'nope' }] })
  t.teardown(() => srv.close())
  await t.rejects(loadBaselineSource({ admin: srv.url, token: TOKEN }), { code: ERROR_CODES.BASELINE_INVALID, message: /\/v1\/baseline: the answer is not JSON/ })
  await t.rejects(loadBaselineSource({ provider: 'fetch', fromAggregator: srv.url, token: TOKEN }), { code: ERROR_CODES.BASELINE_INVALID, message: /^aggregator http:.*: not a hangar\.baseline\/v1 document: schema: / })
})

t.test('from the config: the aggregator first; when it is unreachable or answers 404, the sidecar data_dir file', async (t) => {
  const srv = await serve({ '/v1/providers/fetch/baseline': [200, { ...fixture(), revision: 99 }] })
  t.teardown(() => srv.close())
  const data = join(dir, 'cfg-data')
  file('cfg-data/baseline.json', JSON.stringify({ ...fixture(), revision: 7 }))

  let r = await loadBaselineSource({ provider: 'fetch', config: config('agg.yaml', srv.url, data) })
  t.equal(r.baseline.revision, 99, 'the configured aggregator answers')
  t.same(srv.seen.at(-1), { path: '/v1/providers/fetch/baseline', auth: `Bearer ${TOKEN}` })

  const four04 = await serve({})
  t.teardown(() => four04.close())
  r = await loadBaselineSource({ provider: 'fetch', config: config('agg404.yaml', four04.url, data) })
  t.same([r.baseline.revision, r.source], [7, join(data, 'baseline.json')], 'a 404 falls back to the data_dir file')

  const dead = await deadUrl()
  r = await loadBaselineSource({ provider: 'fetch', config: config('dead.yaml', dead, data) })
  t.equal(r.baseline.revision, 7, 'an unreachable aggregator falls back too')

  r = await loadBaselineSource({ provider: 'fetch', config: config('noagg.yaml', undefined, data) })
  t.equal(r.source, join(data, 'baseline.json'), 'no aggregator configured: the file')

  const five = await serve({ '/v1/providers/fetch/baseline': [500, { error: { code: 'internal', message: 'boom' } }] })
  t.teardown(() => five.close())
  await t.rejects(loadBaselineSource({ provider: 'fetch', config: config('five.yaml', five.url, data) }), { code: ERROR_CODES.BASELINE_UNAVAILABLE, message: `no baseline for provider "fetch": aggregator ${five.url}/v1/providers/fetch/baseline: HTTP 500: boom` }, 'another error is reported, not hidden by a possibly older file')
})

t.test('from the config: relative data_dir from the working directory or the config directory; up layout; nothing found names every source', async (t) => {
  const root = join(dir, 'rel')
  const cfgDir = join(root, 'conf')
  const cwd = join(root, 'work')
  mkdirSync(cfgDir, { recursive: true })
  mkdirSync(cwd, { recursive: true })
  const cfg = join(cfgDir, 'hangar.yaml')
  writeFileSync(cfg, 'providers:\n  fetch:\n    mode: remote\n    endpoint: http://127.0.0.1:9/mcp\n    sidecar:\n      data_dir: ./state\n')
  t.same(baselineFileCandidates('./state', 'fetch', cwd, cfgDir), [join(cwd, 'state/baseline.json'), join(cfgDir, 'state/baseline.json')])
  t.same(baselineFileCandidates('./data', 'fetch', cwd, cfgDir), [join(cwd, 'data/fetch/baseline.json'), join(cwd, 'data/baseline.json'), join(cfgDir, 'data/fetch/baseline.json'), join(cfgDir, 'data/baseline.json')], 'the shared default: the up layout first')
  t.same(baselineFileCandidates('/abs/d', 'fetch', cwd, cfgDir), ['/abs/d/baseline.json'])

  let io = capture()
  t.equal(await runBaselineShow({ provider: 'fetch', config: cfg, cwd }, io), 2)
  t.same(io.stderr, [`mcp-hangar: no baseline for provider "fetch": aggregator: none in ${cfg}; ${join(cwd, 'state/baseline.json')}: not found; ${join(cfgDir, 'state/baseline.json')}: not found`])

  mkdirSync(join(cfgDir, 'state'))
  writeFileSync(join(cfgDir, 'state/baseline.json'), JSON.stringify(fixture('other')))
  io = capture()
  t.equal(await runBaselineShow({ provider: 'fetch', config: cfg, cwd }, io), 2)
  t.match(io.stderr[0], `${join(cfgDir, 'state/baseline.json')}: the baseline of provider "other"`, 'a file of another provider is skipped and named')

  writeFileSync(join(cfgDir, 'state/baseline.json'), JSON.stringify(fixture()))
  io = capture()
  t.equal(await runBaselineShow({ provider: 'fetch', config: cfg, cwd }, io), 0, 'found next to the config')
  t.same(io.stderr, [`baseline of "fetch" from ${join(cfgDir, 'state/baseline.json')}`])

  io = capture()
  t.equal(await runBaselineShow({ provider: 'fetch', config: 'hangar.yaml', cwd, env: { MCP_CONFIG: cfg } }, io), 2, '-c wins over $MCP_CONFIG')
  t.match(io.stderr[0], /^mcp-hangar: no baseline for provider "fetch": config .*work\/hangar\.yaml: config file not found: .*; give --baseline FILE, --from-aggregator URL or --admin URL$/)
  io = capture()
  t.equal(await runBaselineShow({ provider: 'fetch', cwd, env: { MCP_CONFIG: cfg } }, io), 0, '$MCP_CONFIG is the default config')
  io = capture()
  t.equal(await runBaselineShow({ provider: 'nope', config: cfg, cwd }, io), 2)
  t.same(io.stderr, ['mcp-hangar: no provider "nope" in the config (known: fetch)'])
})

t.test('profile suggest: the YAML on stdout or in -o FILE, notes on stderr; it loads as a profile', async (t) => {
  let io = capture()
  t.equal(await runProfileSuggest({ baseline: good }, io), 0)
  const yamlText = io.stdout.join('\n')
  const doc = parseYaml(yamlText) as { capabilities: { network: { egress: unknown[] }; tools: { allow_list: string[] } } }
  t.same(doc.capabilities.network.egress, [
    { host: 'db.internal', port: 5432, protocol: 'tcp' },
    { host: '*.docs.example.com', port: 443, protocol: 'https' },
    { cidr: '10.1.2.3/32', port: 5432, protocol: 'tcp' },
  ])
  t.same(doc.capabilities.tools.allow_list, ['read'])
  t.same(io.stderr, [`baseline of "fetch" from ${good}`], 'no notes for this baseline')

  const out = join(dir, 'out/suggested.yaml')
  mkdirSync(join(dir, 'out'), { recursive: true })
  io = capture()
  t.equal(await runProfileSuggest({ baseline: 'fetch.baseline.json', out: 'out/suggested.yaml', cwd: dir, globThreshold: '4' }, io), 0, 'relative paths from cwd')
  t.same(io.stdout, [])
  t.same(io.stderr, [`baseline of "fetch" from ${good}`, `wrote ${out}`])
  const loaded = loadProfile(out)
  t.same((loaded.capabilities.network as { egress: Array<{ host?: string }> }).egress.map((r) => r.host).filter(Boolean), ['a.docs.example.com', 'b.docs.example.com', 'c.docs.example.com', 'db.internal'], '--glob-threshold 4: no glob')

  const noisy = file('noisy.json', JSON.stringify({ ...fixture(), dropped: { destinations: 2, dns_names: 0, tools: 0 }, dns: [...fixture().dns, { name: 'telemetry.example.net', qtypes: { A: 1 }, actions: { allowed: 1 }, answers: { A: 1 }, count: 1, first_seen: T0, last_seen: T1 }] }))
  io = capture()
  t.equal(await runProfileSuggest({ baseline: noisy }, io), 0)
  t.match(io.stderr, [/^baseline of/, /^note: the baseline is incomplete: 2 destination/, /^note: 1 DNS name was queried but never connected to: .*telemetry\.example\.net$/])
  t.match(readFileSync(out, 'utf8'), /^# Suggested by `mcp-hangar profile suggest`/, 'the file starts with the header comment')
})

t.test('profile suggest: bad options and sources → exit 2 with mcp-hangar: <message>', async (t) => {
  const cases: Array<[Parameters<typeof runProfileSuggest>[0], string | RegExp]> = [
    [{ baseline: good, globThreshold: '1' }, 'mcp-hangar: --glob-threshold: expected an integer ≥ 2, got "1"'],
    [{ baseline: good, globThreshold: 'three' }, 'mcp-hangar: --glob-threshold: expected an integer ≥ 2, got "three"'],
    [{ baseline: good, diff: 'fetch', out: 'x.yaml' }, 'mcp-hangar: --diff prints a comparison; -o writes a suggested profile: give one of them'],
    [{ baseline: join(dir, 'missing.json') }, /^mcp-hangar: no baseline: .*missing\.json: not found$/],
    [{ baseline: good, diff: 'nope/profile.yaml', cwd: dir }, `mcp-hangar: profile: "nope/profile.yaml" not found (looked for ${join(dir, 'nope/profile.yaml')})`],
    [{ baseline: good, out: join(dir, 'no/such/dir/x.yaml') }, /^mcp-hangar: -o .*no\/such\/dir\/x\.yaml: cannot write: ENOENT/],
  ]
  for (const [o, want] of cases) {
    const io = capture()
    t.equal(await runProfileSuggest(o, io), 2, JSON.stringify(o))
    t.same(io.stdout, [])
    t.match(io.stderr.at(-1), want)
  }
})

t.test('profile suggest --diff PROFILE: two sections; exit 1 when something would be denied, 0 when nothing', async (t) => {
  let io = capture()
  t.equal(await runProfileSuggest({ baseline: good, diff: 'filesystem' }, io), 1)
  const text = io.stdout.join('\n')
  t.match(text, /^profile filesystem \(block mode\) against the baseline of fetch, 2026-11-22T10:00:01Z … 10:04:55Z:\n\nallowed but never used \(\d+\):\n {2}RULE\s+WHAT\n/)
  t.match(text, /\nused but would be denied \(\d+\):\n {2}WHAT\s+COUNT\s+REASON\n/)
  t.match(text, /\n {2}a\.docs\.example\.com:443 https\s+2\s+no egress rule allows a\.docs\.example\.com\n/)
  t.match(text, /\n {2}tool read \(listed\)\s+2\s+tool "read" is not in tools\.expected_tools/)

  const own = join(dir, 'own.yaml')
  t.equal(await runProfileSuggest({ baseline: good, out: own }, capture()), 0)
  io = capture()
  t.equal(await runProfileSuggest({ baseline: good, diff: own }, io), 0, 'its own suggestion denies nothing')
  t.match(io.stdout.join('\n'), /allowed but never used \(0\):\n {2}\(none\)\n\nused but would be denied \(0\):\n {2}\(none\)$/)
})

t.test('commander: baseline show and profile suggest set process.exitCode', async (t) => {
  const saved = process.exitCode
  t.teardown(() => {
    process.exitCode = saved
  })
  const run = async (argv: string[]) => {
    const io = capture()
    const program = new Command().name('mcp-hangar').exitOverride().configureOutput({ writeErr: () => {} })
    registerProfileCommands(program, io)
    registerBaselineCommands(program, io)
    process.exitCode = undefined
    await program.parseAsync(argv, { from: 'user' })
    return { io, code: process.exitCode }
  }
  let r = await run(['baseline', 'show', '--baseline', good, '--json'])
  t.equal(r.code, 0)
  t.equal(JSON.parse(r.io.stdout.join('\n')).provider, 'fetch')
  r = await run(['baseline', 'show', '--baseline', join(dir, 'gone.json')])
  t.equal(r.code, 2)
  t.match(r.io.stderr[0], /^mcp-hangar: no baseline: .*gone\.json: not found$/)
  r = await run(['profile', 'suggest', '-p', 'fetch', '--baseline', good, '--glob-threshold', '2'])
  t.equal(r.code, 0)
  t.match(r.io.stdout.join('\n'), /- \{ host: "\*\.docs\.example\.com", port: 443, protocol: https \}/)
  r = await run(['profile', 'suggest', '--baseline', good, '--diff', 'memory'])
  t.equal(r.code, 1, '--diff with denials: 1')
})
