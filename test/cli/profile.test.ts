/**
 * `mcp-hangar profile list` and `profile validate FILE…` (cli/profile.ts): output and exit codes
 * through `runProfileCommand`, and the commander wiring through `registerProfileCommands` on a
 * program of our own (cli/main.ts adds the same commands).
 */
import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Command } from 'commander'
import { registerProfileCommands, runProfileCommand, summarizeProfile, type ProfileCommandIo } from '../../cli/profile.js'
import { BUILTIN_PROFILES } from '../../config/builtin-profiles.js'

const root = fileURLToPath(new URL('../../', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'hangar-profile-cli-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const file = (name: string, text: string) => {
  writeFileSync(join(dir, name), text)
  return join(dir, name)
}

function capture(): ProfileCommandIo & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = []
  const stderr: string[] = []
  return { stdout, stderr, out: (l) => stdout.push(l), err: (l) => stderr.push(l) }
}

t.test('profile list: a header and one row per built-in with egress count and tool summary', async (t) => {
  const io = capture()
  t.equal(runProfileCommand(['list'], io), 0)
  t.strictSame(io.stderr, [])
  t.match(io.stdout[0], /^NAME\s+EGRESS\s+TOOLS\s+DESCRIPTION$/)
  t.strictSame(io.stdout.slice(1).map((l) => l.split(/\s+/)[0]), [...BUILTIN_PROFILES])
  const row = (name: string) => io.stdout.find((l) => l.startsWith(`${name} `)) ?? ''
  t.match(row('github'), /^github\s+1\s+allow all, deny 7, expect 26\s+@modelcontextprotocol\/server-github/)
  t.match(row('fetch'), /^fetch\s+8\s+allow fetch_\*, deny 1, expect 6\s+mcp-fetch-server/)
  t.match(row('postgres'), /^postgres\s+0\s+allow query, deny none, expect 1\s/)
})

t.test('profile validate: good files and built-in names print ok with a summary, exit 0', async (t) => {
  const good = file('good.yaml', 'description: x\ncapabilities:\n  enforcement_mode: alert\n  network:\n    egress:\n      - host: api.example.com\n      - host: db.example\n        port: 5432\n        protocol: tcp\n')
  const io = capture()
  t.equal(runProfileCommand(['validate', good, join(root, 'profiles/builtin/fetch.yaml'), 'slack'], io), 0)
  t.strictSame(io.stdout, [
    `${good}: ok (alert, 2 egress rules, tools: allow all, deny none, 0 secret patterns)`,
    `${join(root, 'profiles/builtin/fetch.yaml')}: ok (block, 8 egress rules, tools: allow fetch_*, deny 1, expect 6, 7 secret patterns)`,
    'slack: ok (block, 1 egress rule, tools: allow slack_*, deny none, expect 8, 7 secret patterns)',
  ])
  t.strictSame(io.stderr, [])
})

t.test('profile validate: every bad field path is printed, exit 2, other files still checked', async (t) => {
  const bad = file('bad.yaml', 'capabilities:\n  enforcement_mode: bloc\n  network:\n    egress:\n      - host: "*example.com"\n      - host: db.example\n        protocol: tcp\n  arguments:\n    secret_patterns: [aws-key]\n')
  const bare = file('bare.yaml', 'network:\n  egres: []\n')
  const good = file('good2.yaml', 'network:\n  egress: []\n')
  const io = capture()
  t.equal(runProfileCommand(['validate', bad, bare, good], io), 2)
  t.strictSame(io.stdout, [`${good}: ok (block, 0 egress rules, tools: allow all, deny none, 0 secret patterns)`])
  t.strictSame(io.stderr, [
    `${bad}: invalid`,
    `  capabilities.enforcement_mode: Invalid enum value. Expected 'alert' | 'block' | 'quarantine', received 'bloc'`,
    `  capabilities.network.egress[0].host: "*example.com" is not a valid host glob: only a leading "*." is supported; use "*.example.com" (subdomains) or ".example.com" (the domain and its subdomains)`,
    '  capabilities.network.egress[1].port: a tcp rule must name its port (0 = any port)',
    `  capabilities.arguments.secret_patterns[0]: unknown secret pattern "aws-key" (known: aws-keys, pem-blocks, github-tokens, jwt, slack-tokens, stripe-keys, google-api-keys)`,
    `${bare}: invalid`,
    '  network.egres: unknown field "egres"; did you mean "egress"?',
  ])
})

t.test('profile validate: missing file, unknown built-in, unset ${VAR}, usage → exit 2', async (t) => {
  let io = capture()
  t.equal(runProfileCommand(['validate', 'nope/missing.yaml'], io, { cwd: dir }), 2)
  t.match(io.stderr[0], `nope/missing.yaml: profile: "nope/missing.yaml" not found (looked for ${join(dir, 'nope/missing.yaml')})`)
  io = capture()
  t.equal(runProfileCommand(['validate', 'githb'], io), 2)
  t.strictSame(io.stderr[0], 'githb: invalid')
  t.match(io.stderr[1], /^ {2}profile: unknown built-in profile "githb" \(built-in: brave-search, /)
  const env = file('env.yaml', 'network:\n  egress:\n    - { host: "${DB_HOST}", port: 5432, protocol: tcp }\n')
  io = capture()
  t.equal(runProfileCommand(['validate', env], io, { env: {} }), 2)
  t.match(io.stderr[0], 'environment variable DB_HOST is not set')
  io = capture()
  t.equal(runProfileCommand(['validate', env], io, { env: { DB_HOST: 'db.example' } }), 0, 'set: ok')
  io = capture()
  t.equal(runProfileCommand(['validate'], io), 2)
  t.equal(runProfileCommand(['frobnicate'], io), 2)
  t.match(io.stderr[0], 'usage: mcp-hangar profile list | mcp-hangar profile validate FILE...')
})

t.test('registerProfileCommands: commander runs the same functions and sets process.exitCode', async (t) => {
  const saved = process.exitCode
  t.teardown(() => {
    process.exitCode = saved
  })
  const run = async (argv: string[]) => {
    const io = capture()
    const program = new Command().name('mcp-hangar').exitOverride().configureOutput({ writeErr: () => {} })
    registerProfileCommands(program, io)
    process.exitCode = undefined
    await program.parseAsync(argv, { from: 'user' })
    return { io, code: process.exitCode }
  }
  const list = await run(['profile', 'list'])
  t.equal(list.code, 0)
  t.equal(list.io.stdout.length, BUILTIN_PROFILES.length + 1)
  const bad = file('cmd-bad.yaml', 'network:\n  egress:\n    - host: "*x.example"\n')
  const v = await run(['profile', 'validate', bad, 'github'])
  t.equal(v.code, 2)
  t.strictSame(v.io.stderr[0], `${bad}: invalid`)
  t.match(v.io.stdout[0], /^github: ok \(/)
  await t.rejects(run(['profile', 'validate']), { code: 'commander.missingArgument' }, 'validate needs a FILE')
})

t.test('summarizeProfile: a single caller-scoped allow entry is shown with its callers', async (t) => {
  const s = summarizeProfile({ path: '/p.yaml', capabilities: { tools: { allow_list: [{ tool: 'create_*', callers: ['group:maintainers'] }], deny_list: ['delete_*'] } } })
  t.equal(s.tools, 'allow create_* for group:maintainers, deny 1')
})
