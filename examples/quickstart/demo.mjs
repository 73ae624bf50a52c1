#!/usr/bin/env node
/**
 * `npm run demo`: drives the running quickstart (`npm start` in another terminal) with the MCP SDK
 * client, the way an agent would, and says for each step whether MCP Hangar allowed or denied
 * what it should:
 *   1. waits (≤ 60 s) until the aggregator's GET /v1/providers shows every provider `ready`;
 *   2. lists each provider's tools through its sidecar (denied tools are hidden);
 *   3. fetch: reads http://example.com/ and http://en.wikipedia.org/ (allowed: the local copies),
 *      then http://evil.example.net/ (denied: the sidecar's DNS answers NXDOMAIN);
 *   4. everything: calls get-env (denied: JSON-RPC error -32001);
 *   5. filesystem: reads a file (allowed), writes one (denied: -32001);
 *   6. asks the aggregator's /mcp `hangar_violations` what it recorded, and shows the audit log.
 * Exits 1 when an expected allow or deny did not happen. Without root `mcp-hangar up` runs in
 * cooperative mode, where egress is not enforced: the egress steps are then reported, not judged.
 *
 *   node examples/quickstart/demo.mjs [-c examples/quickstart/hangar.yaml]
 * Reads the aggregator URL, the admin token and the providers' addresses from the config.
 */
import console from 'node:console'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import process from 'node:process'
import { setTimeout } from 'node:timers/promises'
import { fileURLToPath, URL } from 'node:url'
import { parseArgs } from 'node:util'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { parse as parseYaml } from 'yaml'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
process.chdir(root)
const { values: opts } = parseArgs({ options: { config: { type: 'string', short: 'c', default: 'examples/quickstart/hangar.yaml' } } })

const READY_TIMEOUT_MS = 60_000
const CALL_TIMEOUT_MS = 30_000
const MARKER = 'local copy served by the Hangar quickstart'
const REFUSED = -32001

// ------------------------------------------------------------------ config

// eslint-disable-next-line no-restricted-syntax -- an example script: ${VAR}s in the config, as mcp-hangar does
const env = process.env
function substitute(v) {
  if (typeof v === 'string') return v.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, n) => env[n] ?? '')
  if (Array.isArray(v)) return v.map(substitute)
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, substitute(x)]))
  return v
}
const config = substitute(parseYaml(readFileSync(opts.config, 'utf8')))
const agg = config.aggregator ?? {}
const aggUrl = (agg.url ?? `http://${agg.listen ?? '127.0.0.1:8000'}`).replace(/\/$/, '')
const adminToken = (agg.admin_tokens ?? [])[0]
const auth = adminToken ? { authorization: `Bearer ${adminToken}` } : {}
const auditLog = resolve(agg.data_dir ?? './data', 'audit', 'audit.jsonl')
const filesDir = resolve('examples/quickstart/files')
/** The MCP URL of a provider's sidecar: `http://<listen>/mcp`, a wildcard host dialled on loopback. */
function mcpUrl(name) {
  const listen = config.providers?.[name]?.listen
  if (!listen) throw new Error(`${opts.config} has no providers.${name}.listen`)
  return `http://${listen.replace(/^0\.0\.0\.0:|^\[::\]:/, (m) => (m.startsWith('[') ? '[::1]:' : '127.0.0.1:'))}/mcp`
}

// ------------------------------------------------------------------ reporting

let failures = 0
let isolation = 'unknown'
/** Egress expectations that failed (for the hint when the isolation is not reported). */
let egressFailures = 0
const notEnforced = []
const ok = (what) => console.log(`✔ ${what}`)
const bad = (what) => {
  failures++
  console.log(`✘ ${what}`)
}
const info = (what) => console.log(`  ${what}`)
const warn = (what) => console.log(`! ${what}`)
const short = (s, n = 160) => {
  const one = String(s).replace(/\s+/g, ' ').trim()
  return one.length > n ? `${one.slice(0, n - 1)}…` : one
}
const textOf = (result) => (result?.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('\n')
const sleep = (ms) => setTimeout(ms)

// ------------------------------------------------------------------ steps

async function getProviders() {
  const res = await globalThis.fetch(`${aggUrl}/v1/providers`, { headers: auth, signal: globalThis.AbortSignal.timeout(5000) })
  if (!res.ok) throw new Error(`GET ${aggUrl}/v1/providers: HTTP ${res.status} ${short(await res.text(), 120)}`)
  return (await res.json()).providers ?? []
}

/** Waits until every configured provider is ready; returns the providers' isolation ('netns' | 'cooperative' | 'unknown'). */
async function waitReady(names) {
  const deadline = Date.now() + READY_TIMEOUT_MS
  let last = ''
  let lastErr = ''
  for (;;) {
    try {
      const list = await getProviders()
      const state = names.map((n) => `${n}=${list.find((p) => p.name === n)?.state ?? 'missing'}`).join(' ')
      if (state !== last) info(`providers: ${state}`)
      last = state
      if (names.every((n) => list.find((p) => p.name === n)?.state === 'ready')) {
        const iso = list.filter((p) => names.includes(p.name)).map((p) => p.isolation ?? p.sidecar?.isolation ?? 'unknown')
        return iso.includes('cooperative') ? 'cooperative' : iso.every((i) => i === 'netns') ? 'netns' : 'unknown'
      }
    } catch (err) {
      const msg = err.cause?.code === 'ECONNREFUSED' ? `nothing listens on ${aggUrl} (is \`npm start\` running?)` : err.message
      if (msg !== lastErr) info(msg)
      lastErr = msg
    }
    if (Date.now() > deadline) return null
    await sleep(1000)
  }
}

async function connect(url, headers = {}) {
  const client = new Client({ name: 'hangar-quickstart-demo', version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }))
  return client
}

/** Calls a tool: `{ result }`, or `{ error }` (a JSON-RPC error or a transport failure). */
async function call(client, name, args) {
  try {
    return { result: await client.callTool({ name, arguments: args }, undefined, { timeout: CALL_TIMEOUT_MS }) }
  } catch (error) {
    return { error }
  }
}

function expectHidden(provider, tools, hidden) {
  const shown = hidden.filter((t) => tools.includes(t))
  if (shown.length === 0) ok(`${provider}: ${hidden.join(', ')} hidden by policy`)
  else bad(`${provider}: ${shown.join(', ')} should be hidden by policy but is listed`)
}

async function listTools(clients) {
  const expected = { fetch: ['fetch_youtube_transcript'], filesystem: ['write_file', 'edit_file', 'create_directory', 'move_file'], everything: ['get-env'] }
  for (const [name, client] of Object.entries(clients)) {
    const { tools } = await client.listTools()
    const names = tools.map((t) => t.name)
    ok(`${name}: ${names.length} tools: ${short(names.join(', '), 200)}`)
    expectHidden(name, names, expected[name] ?? [])
  }
}

/** An allowed fetch: expects the local copy's text. */
async function fetchAllowed(client, url, enforced) {
  const { result, error } = await call(client, 'fetch_txt', { url })
  const text = error ? '' : textOf(result)
  if (!error && !result.isError && text.includes(MARKER)) {
    ok(`fetch ${url}: allowed, got the local copy: "${short(text.slice(text.indexOf('This is')), 90)}"`)
    return
  }
  const why = error ? error.message : result.isError ? `tool error: ${short(text)}` : `unexpected page: ${short(text)}`
  if (enforced === 'cooperative') {
    warn(`fetch ${url}: ${why}`)
    notEnforced.push(url)
  } else {
    bad(`fetch ${url} should be allowed: ${why}`)
    egressFailures++
  }
}

/** A denied fetch: expects a tool error (the name does not resolve inside the provider's namespace). */
async function fetchDenied(client, url, enforced) {
  const { result, error } = await call(client, 'fetch_txt', { url })
  if (enforced === 'cooperative') {
    const outcome = error ? short(error.message, 100) : result.isError ? `failed: ${short(textOf(result), 100)}` : 'the provider read it'
    warn(`fetch ${url}: ${outcome}; not a Hangar decision: egress is NOT enforced in cooperative mode`)
    notEnforced.push(url)
    return
  }
  if (error) {
    ok(`fetch ${url}: denied (${short(error.message, 120)})`)
    return
  }
  const text = textOf(result)
  if (result.isError) {
    ok(`fetch ${url}: denied, the provider got "${short(text, 120)}"`)
    return
  }
  bad(`fetch ${url} should be denied, but the provider read it: "${short(text, 100)}"`)
  egressFailures++
}

/** A call the tool policy must refuse with JSON-RPC error -32001. */
async function toolDenied(client, provider, tool, args) {
  const { result, error } = await call(client, tool, args)
  if (error && error.code === REFUSED) ok(`${provider}/${tool}: refused by policy (${error.code}: ${short(error.message.replace(/^MCP error -?\d+: /, ''), 110)})`)
  else if (error) bad(`${provider}/${tool} should be refused with ${REFUSED}, got: ${short(error.message)}`)
  else bad(`${provider}/${tool} should be refused, but it ran: "${short(textOf(result), 100)}"`)
}

async function readFile(client) {
  const path = resolve(filesDir, 'hello.txt')
  const { result, error } = await call(client, 'read_text_file', { path })
  const text = error ? '' : textOf(result)
  if (!error && !result.isError && text.includes('Hangar')) ok(`filesystem/read_text_file ${path}: allowed: "${short(text, 90)}"`)
  else bad(`filesystem/read_text_file ${path} should be allowed: ${error ? error.message : short(text)}`)
}

function describe(s) {
  const what = s.destination ? `${s.destination.host ?? s.destination.ip}${s.destination.port ? `:${s.destination.port}` : ''}` : s.tool ?? ''
  return `${s.time.slice(11, 19)} ${s.provider.padEnd(10)} ${s.type.padEnd(14)} ${s.action.padEnd(8)} ${what.padEnd(22)} ${short(s.reason, 90)}`
}

async function violations(since, enforced) {
  const client = await connect(`${aggUrl}/mcp`, auth)
  try {
    const want = [
      { label: 'tool_denied', test: (s) => s.type === 'tool_denied', egress: false },
      { label: 'dns_denied for evil.example.net', test: (s) => s.type === 'dns_denied' && s.destination?.host === 'evil.example.net', egress: true },
    ]
    let signals = []
    // Sidecars ship signals in batches (a quarter of a second); give them a few seconds.
    for (let i = 0; i < 20; i++) {
      const r = await client.callTool({ name: 'hangar_violations', arguments: { since, limit: 50 } })
      if (r.isError) throw new Error(textOf(r))
      signals = r.structuredContent?.signals ?? JSON.parse(textOf(r)).signals ?? []
      if (want.every((w) => signals.some(w.test))) break
      await sleep(500)
    }
    ok(`aggregator /mcp hangar_violations: ${signals.length} violation(s) since the demo started`)
    for (const s of signals) info(describe(s))
    for (const w of want) {
      if (signals.some(w.test)) ok(`the aggregator recorded a ${w.label}`)
      else if (w.egress && enforced === 'cooperative') warn(`no ${w.label}: egress is not enforced in cooperative mode`)
      else {
        bad(`the aggregator has no ${w.label}`)
        if (w.egress) egressFailures++
      }
    }
  } finally {
    await client.close()
  }
}

function showAudit() {
  if (!existsSync(auditLog)) {
    info(`audit log: ${auditLog} (not on this machine: the aggregator writes it where it runs)`)
    return
  }
  const lines = readFileSync(auditLog, 'utf8').split('\n').filter(Boolean).length
  ok(`audit log: ${auditLog} (${lines} signals, one JSON object a line: the SIEM feed)`)
}

// ------------------------------------------------------------------ main

async function main() {
  const since = new Date(Date.now() - 1000).toISOString()
  const names = ['fetch', 'filesystem', 'everything']
  console.log(`MCP Hangar quickstart demo: aggregator ${aggUrl}, config ${opts.config}`)
  const ready = await waitReady(names)
  if (ready === null) {
    bad(`the providers were not all ready within ${READY_TIMEOUT_MS / 1000} s (start them with \`npm start\`)`)
    return
  }
  ok(`all ${names.length} providers are ready`)
  isolation = ready
  if (isolation === 'netns') ok('isolation: each provider runs in its own network namespace; its sidecar is the only host it can reach')
  else if (isolation === 'cooperative') warn('isolation: COOPERATIVE mode (mcp-hangar up is not root): tool policy is enforced, egress is NOT: a provider can reach any host. Run npm start as root for the real thing.')
  else info('isolation: not reported by the aggregator; egress steps are judged as if enforced')

  const clients = {}
  try {
    for (const n of names) clients[n] = await connect(mcpUrl(n))
    await listTools(clients)
    await fetchAllowed(clients.fetch, 'http://example.com/', isolation)
    await fetchAllowed(clients.fetch, 'http://en.wikipedia.org/', isolation)
    await fetchDenied(clients.fetch, 'http://evil.example.net/', isolation)
    await toolDenied(clients.everything, 'everything', 'get-env', {})
    await readFile(clients.filesystem)
    await toolDenied(clients.filesystem, 'filesystem', 'write_file', { path: resolve(filesDir, 'pwned.txt'), content: 'written by an agent' })
  } finally {
    await Promise.allSettled(Object.values(clients).map((c) => c.close()))
  }
  await violations(since, isolation)
  showAudit()
}

try {
  await main()
} catch (err) {
  bad(`demo stopped: ${err.message}`)
}
console.log('')
if (egressFailures > 0 && isolation === 'unknown') console.log('Hint: the aggregator did not say how the providers are isolated. If mcp-hangar up runs without root (cooperative mode), egress is not enforced and the egress steps cannot pass.')
if (notEnforced.length > 0) console.log(`Egress was not enforced (cooperative mode, no root): ${notEnforced.join(', ')}. Run npm start as root to see it enforced.`)
console.log(failures === 0 ? 'demo passed: every expected allow and deny happened' : `demo FAILED: ${failures} expectation(s) not met`)
process.exit(failures === 0 ? 0 : 1)
