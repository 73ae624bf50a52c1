// A security config fails closed (config/load.ts, unknown-keys.ts): an unknown key in ANY
// object of the schema is a ConfigError at the key's own path with a "did you mean"; keys of
// MCP Hangar (Python) that this edition does not read are errors that say so; `${VAR:-default}`,
// YAML alias bombs and non-JSON YAML tags are refused as config errors. The object list is walked
// from the schema itself, so an object added later is covered without editing this file.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { parse as parseYaml, stringify } from 'yaml'
import { loadProfile, parseConfig } from '../../config/load.js'
import { hangarConfigSchema } from '../../config/schema.js'
import { closestKey, editDistance, objectKeys, schemaAt, type PathSegment } from '../../config/unknown-keys.js'
import { ConfigError, ERROR_CODES, HangarError } from '../../core/errors.js'
import { compileToolPolicy, decideTool } from '../../policy/tool-policy.js'
import { thrown } from '../helpers/thrown.js'

function issuesOf(text: string, env: Record<string, string> = {}): Array<{ path: string; message: string }> {
  const e = thrown(() => parseConfig(text, '<inline>', env))
  if (!(e instanceof ConfigError)) throw new Error(`expected a ConfigError, got ${String(e)}`)
  return [...e.issues]
}

/** A config in which every object of the schema is present (so a key can be put into each). */
const BASE = {
  aggregator: { listen: '127.0.0.1:8000' },
  providers: {
    fetch: {
      command: ['node', 'server.js'],
      ingress: { auth_tokens: [] },
      sidecar: { baseline: { enabled: true }, limits: { max_tunnels: 10 } },
      resources: { cpu: 1 },
      rate_limit: { rps: 1, burst: 1 },
      restart_backoff: { initial_ms: 500 },
      circuit_breaker: { failure_threshold: 3 },
      capabilities: {
        enforcement_mode: 'block',
        network: { egress: [{ host: 'api.example.com' }] },
        tools: { deny_list: ['rm'] },
        arguments: { max_payload_bytes: 1024 },
      },
    },
  },
}

/** Paths (in BASE) of every object the schema declares, found by walking the schema. */
function objectPaths(): PathSegment[][] {
  const out: PathSegment[][] = []
  const visit = (path: PathSegment[], value: unknown) => {
    if (value === null || typeof value !== 'object') return
    if (Array.isArray(value)) {
      value.forEach((v, i) => visit([...path, i], v))
      return
    }
    if (objectKeys(schemaAt(hangarConfigSchema, path)).length) out.push(path)
    for (const [k, v] of Object.entries(value)) visit([...path, k], v)
  }
  visit([], BASE)
  return out
}

function withKey(path: readonly PathSegment[], key: string, value: unknown = 1): Record<string, unknown> {
  const copy = structuredClone(BASE) as Record<string, unknown>
  let o = copy as Record<string | number, unknown>
  for (const seg of path) o = o[seg] as Record<string | number, unknown>
  o[key] = value
  return copy
}

function dotted(path: readonly PathSegment[], key: string): string {
  let out = ''
  for (const p of [...path, key]) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`
  return out
}

t.test('control: the base config, with every object present, loads', async (t) => {
  const { config } = parseConfig(stringify(BASE))
  t.equal(config.providers.fetch!.capabilities.tools.deny_list[0], 'rm')
  const objects = objectPaths().map((p) => dotted(p.slice(0, -1), String(p.at(-1) ?? '')))
  t.ok(objects.length >= 16, `${objects.length} objects: ${objects.join(', ')}`)
})

t.test('an unknown key in every object of the schema is an error at its own path', async (t) => {
  for (const path of objectPaths()) {
    const key = 'zz_not_a_key'
    const issues = issuesOf(stringify(withKey(path, key)))
    t.strictSame(issues, [{ path: dotted(path, key), message: `unknown field "${key}"` }], dotted(path, key))
  }
})

t.test('a typo of every known key names the key probably meant', async (t) => {
  let checked = 0
  for (const path of objectPaths()) {
    const known = objectKeys(schemaAt(hangarConfigSchema, path))
    for (const key of known) {
      if (key.length < 4) continue
      // Drop one character in the middle: one edit away.
      const typo = key.slice(0, 2) + key.slice(3)
      if (known.includes(typo)) continue
      const issues = issuesOf(stringify(withKey(path, typo)))
      const mine = issues.find((i) => i.path === dotted(path, typo))
      const suggested = /did you mean "([^"]+)"/.exec(mine?.message ?? '')?.[1]
      // The key meant, or another key exactly as close (a tie is not a wrong guess).
      const best = Math.min(...known.map((k) => editDistance(k, typo)))
      t.ok(suggested !== undefined && known.includes(suggested) && editDistance(suggested, typo) === best, `${dotted(path, typo)} → ${mine?.message}`)
      checked++
    }
  }
  t.ok(checked > 80, `${checked} typos checked`)
})

t.test('a key written one level too high names where it belongs', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['deny_list', 'providers.fetch.deny_list', 'capabilities.tools.deny_list'],
    ['egress', 'providers.fetch.egress', 'capabilities.network.egress'],
    ['enforcement_mode', 'providers.fetch.enforcement_mode', 'capabilities.enforcement_mode'],
    ['max_tunnels', 'providers.fetch.max_tunnels', 'sidecar.limits.max_tunnels'],
  ]
  for (const [key, path, meant] of cases) {
    const issues = issuesOf(stringify(withKey(['providers', 'fetch'], key, key === 'enforcement_mode' ? 'block' : [])))
    t.strictSame(issues, [{ path, message: `unknown field "${key}"; did you mean "${meant}"?` }], path)
  }
  const top = issuesOf('provders: {}\n')
  t.strictSame(top, [{ path: 'provders', message: 'unknown field "provders"; did you mean "providers"?' }], 'top level')
  const far = issuesOf('providers:\n  fetch:\n    command: [x]\n    qqqqqqqq: 1\n')
  t.strictSame(far, [{ path: 'providers.fetch.qqqqqqqq', message: 'unknown field "qqqqqqqq"' }], 'no guess when nothing is close')
})

t.test('MCP Hangar (Python): tools.deny_list under the provider is an error, never a silently dropped deny list', async (t) => {
  const py = 'providers:\n  fetch:\n    command: [x]\n    tools:\n      deny_list: [rm, "delete_*"]\n      allow_list: ["fetch_*"]\n'
  const e = thrown(() => parseConfig(py))
  t.type(e, ConfigError)
  t.equal((e as HangarError).code, ERROR_CODES.CONFIG_INVALID)
  const issues = (e as ConfigError).issues
  t.strictSame(issues.map((i) => i.path), ['providers.fetch.tools.deny_list', 'providers.fetch.tools.allow_list'])
  t.match(issues[0]!.message, /^MCP Hangar \(Python\) keeps the tool deny list here; .*did you mean "capabilities\.tools\.deny_list" \(providers\.fetch\.capabilities\.tools\.deny_list\)\?$/)
  t.match((e as Error).message, '  providers.fetch.tools.deny_list: ', 'the message lists the path')

  // Control: where this edition reads it, the same deny list denies the tool.
  const ours = parseConfig('providers:\n  fetch:\n    command: [x]\n    capabilities:\n      tools:\n        deny_list: [rm, "delete_*"]\n').config
  const policy = compileToolPolicy(ours.providers.fetch!.capabilities.tools)
  t.equal(decideTool('rm', policy).verdict, 'deny')
  t.equal(decideTool('delete_repo', policy).verdict, 'deny')
  t.equal(decideTool('fetch_html', policy).verdict, 'allow')

  const list = issuesOf('providers:\n  fetch:\n    command: [x]\n    tools:\n      - name: add\n')
  t.strictSame(list.map((i) => i.path), ['providers.fetch.tools'])
  t.match(list[0]!.message, /predefined tool schemas .* not supported yet; the tool policy is providers\.fetch\.capabilities\.tools/)
  const other = issuesOf('providers:\n  fetch:\n    command: [x]\n    tools:\n      max_count: 3\n')
  t.strictSame(other.map((i) => i.path), ['providers.fetch.tools.max_count'])
  t.match(other[0]!.message, /reads it from providers\.fetch\.capabilities\.tools/)
})

t.test('MCP Hangar (Python) sections, provider keys and modes are errors that say so', async (t) => {
  const sections = ['execution', 'discovery', 'retry', 'event_store', 'knowledge_base', 'logging', 'health', 'observability', 'auth', 'config_reload', 'batch']
  for (const s of sections) {
    const issues = issuesOf(`${s}: {}\nproviders: {}\n`)
    t.equal(issues.length, 1, s)
    t.equal(issues[0]!.path, s)
    t.match(issues[0]!.message, new RegExp(`^"${s}" is a section of MCP Hangar \\(Python\\)'s config which this edition does not support yet`), s)
  }
  const keys = ['description', 'build', 'args', 'network', 'network_mode', 'auth', 'tls', 'http', 'strategy', 'min_healthy', 'auto_start', 'health', 'members', 'weight', 'priority', 'id']
  for (const k of keys) {
    const issues = issuesOf(`providers:\n  fetch:\n    command: [x]\n    ${k}: x\n`)
    t.strictSame(issues.map((i) => i.path), [`providers.fetch.${k}`], k)
    t.match(issues[0]!.message, /is a provider key of MCP Hangar \(Python\) which this edition does not support yet/, k)
  }
  const modes: Array<[string, RegExp]> = [
    ['docker', /mode "docker" is "container" here/],
    ['podman', /mode "podman" is "container" here/],
    ['group', /provider groups .* not supported yet/],
  ]
  for (const [mode, message] of modes) {
    const issues = issuesOf(`providers:\n  fetch:\n    mode: ${mode}\n    image: x\n`)
    t.strictSame(issues.map((i) => i.path), ['providers.fetch.mode'], mode)
    t.match(issues[0]!.message, message, mode)
  }
  // Control: an unrelated bad mode keeps zod's message listing the modes.
  t.match(issuesOf('providers:\n  fetch:\n    mode: vm\n')[0]!.message, /'subprocess' \| 'remote' \| 'container'/)
})

t.test('shell forms of ${VAR} are refused (a token must never be the literal text)', async (t) => {
  for (const form of [':-default', '-default', ':?required', '?x', ':=x', ':+x', '+x']) {
    const text = `aggregator:\n  admin_tokens: ["\${TOKEN${form}}"]\n`
    const e = thrown(() => parseConfig(text, '<inline>', { TOKEN: 'set' }))
    t.type(e, ConfigError, form)
    t.strictSame((e as ConfigError).issues.map((i) => i.path), ['aggregator.admin_tokens[0]'], form)
    t.match((e as ConfigError).issues[0]!.message, `"\${TOKEN${form}}" (a shell default/check, as MCP Hangar (Python) reads) is not supported`, form)
  }
  // Controls: the plain form substitutes; the escaped shell form is literal text.
  t.strictSame(parseConfig('aggregator:\n  admin_tokens: ["${TOKEN}", "$${TOKEN:-x}"]\n', '<inline>', { TOKEN: 't0k' }).config.aggregator?.admin_tokens, ['t0k', '${TOKEN:-x}'])
})

t.test('YAML that expands without bound or is not JSON is a config error, not a crash', async (t) => {
  const rows = ['a: &a [x, x, x, x, x, x, x, x, x]']
  for (let i = 1; i < 9; i++) rows.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${new Array(9).fill(`*${String.fromCharCode(96 + i)}`).join(', ')}]`)
  const bomb = rows.join('\n') + '\n'
  const started = performance.now()
  const e = thrown(() => parseConfig(bomb))
  const ms = performance.now() - started
  t.type(e, ConfigError, 'an alias bomb (9^9 nodes) is a ConfigError')
  t.match((e as ConfigError).issues[0], { path: '(yaml)', message: /alias/i })
  t.ok(ms < 2000, `refused in ${ms.toFixed(0)} ms`)
  // Control: the yaml library itself expands that document when not limited (here 2 levels, to stay small).
  t.equal((parseYaml(rows.slice(0, 2).join('\n')) as { b: unknown[][] }).b.flat().length, 81)
  // Control: a few aliases within the limit load.
  const ok = parseConfig('aggregator:\n  admin_tokens: &t [a, b]\n  mcp_tokens: *t\n').config
  t.strictSame(ok.aggregator?.mcp_tokens, ['a', 'b'])

  for (const key of ['? [a, b]\n', '? {a: 1}\n', '? !!binary AAAA\n', 'x: &k [1]\n? *k\n']) {
    const e = thrown(() => parseConfig(`${key}: 1\nproviders: {}\n`))
    t.strictSame((e as ConfigError).issues, [{ path: '(yaml)', message: 'a mapping, list, alias or tagged value used as a key is not supported; keys are plain strings' }], `key ${JSON.stringify(key)}`)
  }
  t.strictSame(parseConfig('? providers\n: {}\n').config.providers, {}, 'control: an explicit plain key is a key')
  for (const [text, what] of [['providers:\n  a: !!binary AAAA\n', 'providers.a'], ['aggregator: !!set {a, b}\n', 'aggregator'], ['aggregator:\n  admin_tokens: [!!timestamp 2001-12-14]\n', 'aggregator.admin_tokens[0]']] as const) {
    const err = thrown(() => parseConfig(text))
    t.type(err, ConfigError, text)
    t.equal((err as ConfigError).issues[0]?.path, `(yaml) ${what}`, text)
  }
})

t.test('profile files: unknown keys are errors at their path with a guess', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-strict-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const f = join(dir, 'p.yaml')
  writeFileSync(f, 'network:\n  egress: []\ntools:\n  denylist: [rm]\n')
  const e = thrown(() => loadProfile(f))
  t.type(e, ConfigError)
  t.strictSame((e as ConfigError).issues, [{ path: 'tools.denylist', message: 'unknown field "denylist"; did you mean "deny_list"?' }])
})

t.test('the CLI: a Hangar-py config and an alias bomb exit 2 with the config error, no stack trace', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-strict-cli-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const root = new URL('../../', import.meta.url).pathname
  const run = (cfg: string) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const p = join(dir, `c${Math.random().toString(16).slice(2)}.yaml`)
      writeFileSync(p, cfg)
      const c = spawn(process.execPath, ['--import', 'tsx', join(root, 'cli/main.ts'), 'egress', '-c', p, '--provider', 'fetch'], { cwd: root })
      let stderr = ''
      c.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
      c.on('close', (code) => resolve({ code, stderr }))
    })
  const py = await run('providers:\n  fetch:\n    mode: remote\n    endpoint: http://127.0.0.1:1/mcp\n    tools:\n      deny_list: [rm]\n')
  t.equal(py.code, 2)
  t.match(py.stderr, 'providers.fetch.tools.deny_list: MCP Hangar (Python) keeps the tool deny list here')
  t.notMatch(py.stderr, /\n\s+at /, 'no stack trace')
  const bomb = await run('a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n')
  t.equal(bomb.code, 2, 'a HangarError, not an uncaught ReferenceError (exit 1)')
  t.match(bomb.stderr, '(yaml): ')
})

t.test('closestKey / editDistance', async (t) => {
  t.equal(editDistance('kitten', 'sitting'), 3)
  t.equal(editDistance('', 'abc'), 3)
  t.equal(editDistance('same', 'same'), 0)
  t.equal(closestKey('Deny-List', ['allow_list', 'deny_list']), 'deny_list', 'case and "-" are not typos')
  t.equal(closestKey('lisen', ['listen', 'url']), 'listen')
  t.equal(closestKey('x', ['listen', 'url']), undefined)
  t.equal(closestKey('a'.repeat(10_000), ['listen']), undefined, 'a huge key is no typo (and costs nothing)')
})
