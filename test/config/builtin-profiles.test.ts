/**
 * The built-in capability profiles (config/builtin-profiles.ts, profiles/builtin/*.yaml): the list matches
 * the files; every built-in loads through loadConfig as `profile: <name>`; the tool names they
 * declare are the ones the installed servers really list (stdio, the SDK's own client); and the
 * YAML files are found from every layout the code runs from, including a real esbuild bundle.
 */
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { build } from 'esbuild'
import { loadConfig, loadProfile } from '../../config/load.js'
import { BUILTIN_PROFILES, builtinProfilePath, isBuiltinProfile, listBuiltinProfiles } from '../../config/builtin-profiles.js'
import { compileToolPolicy, ruleGlob } from '../../policy/tool-policy.js'
import { EVERYTHING_SERVER, FILESYSTEM_SERVER } from '../fixtures/mcp/harness.js'

const root = fileURLToPath(new URL('../../', import.meta.url))
const builtinDir = join(root, 'profiles/builtin')
const FETCH_SERVER = join(root, 'node_modules/mcp-fetch-server/dist/index.js')

type Test = Parameters<Parameters<typeof t.test>[0]>[0]

/** A temporary directory removed when the test ends. */
function tempDir(t: Test, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

t.test('BUILTIN_PROFILES names exactly the YAML files in profiles/builtin', async (t) => {
  const files = readdirSync(builtinDir).filter((f) => f.endsWith('.yaml')).map((f) => f.slice(0, -'.yaml'.length)).sort()
  t.strictSame([...BUILTIN_PROFILES].sort(), files)
  t.strictSame([...BUILTIN_PROFILES], [...BUILTIN_PROFILES].sort(), 'sorted')
  for (const name of ['github', 'fetch', 'filesystem', 'postgres', 'slack', 'brave-search', 'everything', 'memory']) t.ok(isBuiltinProfile(name), name)
  t.notOk(isBuiltinProfile('GitHub'), 'case-sensitive')
  t.notOk(isBuiltinProfile('github.yaml'))
})

t.test('listBuiltinProfiles: every built-in with a one-line description and its file', async (t) => {
  const list = listBuiltinProfiles()
  t.strictSame(list.map((b) => b.name), [...BUILTIN_PROFILES])
  for (const b of list) {
    t.ok(b.description.length > 10 && !b.description.includes('\n'), `${b.name}: description "${b.description}"`)
    t.equal(b.path, join(builtinDir, `${b.name}.yaml`))
  }
})

t.test('every built-in loads through loadConfig as `profile: <name>`, in block mode with secret detection', async (t) => {
  const dir = tempDir(t, 'hangar-builtin-')
  for (const name of BUILTIN_PROFILES) {
    const file = join(dir, `${name}.yaml`)
    writeFileSync(file, `providers:\n  p:\n    mode: remote\n    endpoint: http://127.0.0.1:1/mcp\n    profile: ${name}\n`)
    const { config, warnings } = loadConfig(file, {})
    const caps = config.providers.p!.capabilities
    t.strictSame(warnings, [], `${name}: no warnings`)
    t.equal(caps.enforcement_mode, 'block', `${name}: block`)
    t.ok(caps.arguments.secret_patterns.length >= 7, `${name}: every secret pattern on`)
    // The globs compile as the sidecar compiles them (an empty glob passes the schema but not this).
    t.doesNotThrow(() => compileToolPolicy(caps.tools), `${name}: tool globs compile`)
    // Every literal name in the deny and allow lists is a tool the server declares: a typo would deny nothing.
    const expected = caps.tools.expected_tools
    t.ok(expected && expected.length > 0, `${name}: expected_tools declared`)
    for (const n of [...caps.tools.deny_list, ...caps.tools.allow_list].map(ruleGlob).filter((g) => !g.includes('*') && !g.includes('?'))) {
      t.ok(expected?.includes(n), `${name}: "${n}" is in expected_tools`)
    }
    const loaded = loadProfile(name)
    t.equal(loaded.builtin, name)
    t.equal(loaded.path, builtinProfilePath(name))
    t.ok(loaded.description, `${name}: loadProfile keeps the description`)
  }
})

t.test('the egress each built-in needs', async (t) => {
  const egress = (name: (typeof BUILTIN_PROFILES)[number]) => {
    const c = loadProfile(name).capabilities as { network?: { egress?: Array<{ host?: string; port?: number; protocol?: string }> } }
    return (c.network?.egress ?? []).map((r) => `${r.protocol ?? 'https'}://${r.host}:${r.port ?? 443}`)
  }
  t.strictSame(egress('github'), ['https://api.github.com:443'])
  t.strictSame(egress('slack'), ['https://slack.com:443'])
  t.strictSame(egress('brave-search'), ['https://api.search.brave.com:443'])
  for (const none of ['everything', 'filesystem', 'memory', 'postgres'] as const) t.strictSame(egress(none), [], `${none}: no egress`)
  const fetch = egress('fetch')
  for (const host of ['example.com', 'example.org', '.wikipedia.org', 'developer.mozilla.org']) {
    t.ok(fetch.includes(`https://${host}:443`) && fetch.includes(`http://${host}:80`), `fetch: ${host} on 443 https and 80 http`)
  }
})

/** The names `tools/list` returns from a real stdio server (no network: these servers answer locally). */
async function listTools(args: string[]): Promise<string[]> {
  const client = new Client({ name: 'hangar-builtin-test', version: '1.0.0' })
  await client.connect(new StdioClientTransport({ command: process.execPath, args, stderr: 'ignore' }))
  try {
    return (await client.listTools()).tools.map((x) => x.name)
  } finally {
    await client.close()
  }
}

t.test('expected_tools covers every tool the installed servers list (else they would be undeclared and refused)', async (t) => {
  const fsRoot = tempDir(t, 'hangar-builtin-fs-')
  const servers: Array<[(typeof BUILTIN_PROFILES)[number], string[]]> = [
    ['everything', [EVERYTHING_SERVER]],
    ['filesystem', [FILESYSTEM_SERVER, fsRoot]],
    ['fetch', [FETCH_SERVER]],
  ]
  for (const [name, args] of servers) {
    const listed = await listTools(args)
    t.ok(listed.length > 0, `${name}: the server lists tools`)
    const expected = (loadProfile(name).capabilities as { tools: { expected_tools: string[] } }).tools.expected_tools
    t.strictSame(listed.filter((n) => !expected.includes(n)), [], `${name}: every listed tool is expected`)
  }
})

t.test('builtinProfilePath finds the files from each layout (direct, temporary trees)', async (t) => {
  const tmp = tempDir(t, 'hangar-builtin-layout-')
  const copy = (to: string) => {
    mkdirSync(to, { recursive: true })
    cpSync(builtinDir, to, { recursive: true })
  }
  // The bundle: <pkg>/dist/mcp-hangar.mjs with <pkg>/profiles/builtin (npm package, repo checkout).
  const pkg = join(tmp, 'pkg')
  copy(join(pkg, 'profiles/builtin'))
  t.equal(builtinProfilePath('github', pathToFileURL(join(pkg, 'dist/mcp-hangar.mjs'))), join(pkg, 'profiles/builtin/github.yaml'))
  // tsc output: <pkg>/dist/config/builtin-profiles.js
  t.equal(builtinProfilePath('github', pathToFileURL(join(pkg, 'dist/config/builtin-profiles.js'))), join(pkg, 'profiles/builtin/github.yaml'))
  // The files copied next to the bundle (a container image): <app>/mcp-hangar.mjs + <app>/profiles/builtin
  const app = join(tmp, 'app')
  copy(join(app, 'profiles/builtin'))
  t.equal(builtinProfilePath('fetch', pathToFileURL(join(app, 'mcp-hangar.mjs'))), join(app, 'profiles/builtin/fetch.yaml'))
  // Source: <src>/config/builtin-profiles.ts + <src>/profiles/builtin/
  t.equal(builtinProfilePath('slack', new URL('../../config/builtin-profiles.ts', import.meta.url)), join(builtinDir, 'slack.yaml'))
  // Nowhere: a clear error naming where it looked.
  const bare = join(tmp, 'bare')
  mkdirSync(join(bare, 'dist'), { recursive: true })
  t.throws(() => builtinProfilePath('github', pathToFileURL(join(bare, 'dist/mcp-hangar.mjs'))), {
    code: 'HANGAR_CONFIG_NOT_FOUND',
    message: new RegExp(`built-in profile "github" not found; looked for .*${join(bare, 'profiles/builtin/github.yaml').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`),
  })
})

t.test('a real esbuild bundle in dist/ finds ../profiles/builtin from its own import.meta.url', async (t) => {
  const pkg = tempDir(t, 'hangar-builtin-bundle-')
  mkdirSync(join(pkg, 'profiles/builtin'), { recursive: true })
  cpSync(builtinDir, join(pkg, 'profiles/builtin'), { recursive: true })
  // yaml is loaded at run time through createRequire (core/transient-module.ts), as in the real bundle.
  symlinkSync(join(root, 'node_modules'), join(pkg, 'node_modules'), 'dir')
  const entry = join(pkg, 'entry.ts')
  writeFileSync(
    entry,
    `import { builtinProfilePath, listBuiltinProfiles } from ${JSON.stringify(join(root, 'config/builtin-profiles.ts'))}\n` +
      `console.log(JSON.stringify({ github: builtinProfilePath('github'), names: listBuiltinProfiles().map((b) => b.name) }))\n`,
  )
  // The options of scripts/bundle.mjs that matter here: one ES module for node, with a require().
  await build({
    entryPoints: [entry],
    outfile: join(pkg, 'dist/mcp-hangar.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
    banner: { js: "import { createRequire as __hangarRequire } from 'node:module'; const require = __hangarRequire(import.meta.url);" },
  })
  const out = JSON.parse(execFileSync(process.execPath, [join(pkg, 'dist/mcp-hangar.mjs')], { cwd: tmpdir(), encoding: 'utf8' })) as { github: string; names: string[] }
  t.equal(out.github, join(pkg, 'profiles/builtin/github.yaml'))
  t.strictSame(out.names, [...BUILTIN_PROFILES])
})
