/**
 * `providers.<p>.profile` and the provider's own `capabilities` (config/load.ts): a bare
 * name is a built-in, a path is a file; the profile is the base and the provider's block is merged
 * over it (egress appended, every other key replaced, objects one level deep); errors name the path
 * the user wrote.
 */
import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError } from '../../core/errors.js'
import { isBareProfileName, loadConfig, mergeCapabilities, parseConfig } from '../../config/load.js'
import { BUILTIN_PROFILES } from '../../config/builtin-profiles.js'

const dir = mkdtempSync(join(tmpdir(), 'hangar-profile-merge-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

const file = (name: string, text: string) => {
  const p = join(dir, name)
  writeFileSync(p, text)
  return p
}

/** A hangar.yaml with one remote provider `p`; `extra` is indented under it. */
const config = (name: string, extra: string) => file(name, `providers:\n  p:\n    mode: remote\n    endpoint: http://127.0.0.1:1/mcp\n${extra}`)

function issuesOf(fn: () => unknown): { message: string; issues: Array<{ path: string; message: string }> } {
  try {
    fn()
  } catch (e) {
    if (e instanceof ConfigError) return { message: e.message, issues: [...e.issues] }
    throw e
  }
  throw new Error('expected a ConfigError')
}

t.test('mergeCapabilities: egress appended, other keys replaced, objects one level deep', async (t) => {
  const profile = {
    enforcement_mode: 'block',
    network: { dns_allowed: true, egress: [{ host: 'a.example' }] },
    tools: { allow_list: ['x_*'], deny_list: ['x_delete'], expected_tools: ['x_read', 'x_delete'] },
    arguments: { secret_patterns: ['jwt'] },
  }
  const cases: Array<[string, Record<string, unknown>, Record<string, unknown>]> = [
    ['empty block keeps the profile', {}, profile],
    ['egress appended, profile first', { network: { egress: [{ host: 'b.example' }] } }, { ...profile, network: { dns_allowed: true, egress: [{ host: 'a.example' }, { host: 'b.example' }] } }],
    ['network key without egress keeps the profile egress', { network: { loopback_allowed: true } }, { ...profile, network: { dns_allowed: true, loopback_allowed: true, egress: [{ host: 'a.example' }] } }],
    ['empty egress list appends nothing', { network: { egress: [] } }, profile],
    ['deny_list replaced, allow_list and expected_tools kept', { tools: { deny_list: [] } }, { ...profile, tools: { allow_list: ['x_*'], deny_list: [], expected_tools: ['x_read', 'x_delete'] } }],
    ['allow_list replaced, not appended', { tools: { allow_list: ['y'] } }, { ...profile, tools: { ...profile.tools, allow_list: ['y'] } }],
    ['scalar replaced', { enforcement_mode: 'alert' }, { ...profile, enforcement_mode: 'alert' }],
    ['secret_patterns replaced', { arguments: { secret_patterns: [] } }, { ...profile, arguments: { secret_patterns: [] } }],
  ]
  for (const [name, own, want] of cases) t.strictSame(mergeCapabilities(profile, own), want, name)
  // A key the profile lacks is taken as given.
  t.strictSame(mergeCapabilities({}, { tools: { deny_list: ['z'] } }), { tools: { deny_list: ['z'] } }, 'key absent from the profile')
  // Pure: neither input changes.
  t.strictSame(profile.network.egress, [{ host: 'a.example' }])
})

t.test('isBareProfileName: no "/", no "\\\\", no .yaml/.yml suffix', async (t) => {
  for (const [ref, bare] of [
    ['github', true],
    ['brave-search', true],
    ['github.yaml', false],
    ['github.YML', false],
    ['./github', false],
    ['profiles/github', false],
    ['..\\github', false],
  ] as const) {
    t.equal(isBareProfileName(ref), bare, ref)
  }
})

t.test('profile: github with the provider block merged over it, through loadConfig', async (t) => {
  const path = config(
    'merge.yaml',
    `    profile: github\n    capabilities:\n      enforcement_mode: alert\n      network:\n        egress:\n          - host: ghe.example.com\n      tools:\n        deny_list: [merge_pull_request]\n      arguments:\n        max_payload_bytes: 1024\n`,
  )
  const caps = loadConfig(path, {}).config.providers.p!.capabilities
  t.equal(caps.enforcement_mode, 'alert', 'a scalar given replaces the profile')
  t.strictSame(caps.network.egress, [{ host: 'api.github.com', port: 443, protocol: 'https' }, { host: 'ghe.example.com' }], 'egress appended after the profile')
  t.strictSame(caps.tools.deny_list, ['merge_pull_request'], 'deny_list replaced')
  t.equal(caps.tools.expected_tools?.length, 26, 'expected_tools kept from the profile')
  t.equal(caps.arguments.max_payload_bytes, 1024, 'arguments merged one level deep: the new key')
  t.equal(caps.arguments.secret_patterns.length, 7, 'arguments merged one level deep: the profile key kept')
})

t.test('profile alone applies it; capabilities alone is unchanged', async (t) => {
  const only = loadConfig(config('only.yaml', '    profile: slack\n'), {}).config.providers.p!.capabilities
  t.strictSame(only.network.egress, [{ host: 'slack.com', port: 443, protocol: 'https' }])
  t.strictSame(only.tools.allow_list, ['slack_*'])
  const none = parseConfig('providers:\n  p:\n    mode: remote\n    endpoint: http://127.0.0.1:1/mcp\n    capabilities:\n      tools:\n        deny_list: [x]\n').config.providers.p!.capabilities
  t.strictSame(none.tools.deny_list, ['x'])
  t.strictSame(none.network.egress, [])
})

t.test('postgres: the database is added as a tcp rule next to the profile', async (t) => {
  const path = config('pg.yaml', '    profile: postgres\n    capabilities:\n      network:\n        egress:\n          - { host: db.internal.example, port: 5432, protocol: tcp }\n')
  const caps = loadConfig(path, {}).config.providers.p!.capabilities
  t.strictSame(caps.network.egress, [{ host: 'db.internal.example', port: 5432, protocol: 'tcp' }])
  t.strictSame(caps.tools.allow_list, ['query'])
})

t.test('an unknown bare name is a ConfigError naming providers.<p>.profile and the built-ins', async (t) => {
  const path = config('unknown.yaml', '    profile: githb\n')
  const e = issuesOf(() => loadConfig(path, {}))
  t.strictSame(e.issues.map((i) => i.path), ['providers.p.profile'])
  t.match(e.issues[0]!.message, `unknown built-in profile "githb" (built-in: ${BUILTIN_PROFILES.join(', ')})`)
  t.match(e.message, path, 'names the config file')
  // A bare name that happens to be a file is still not read as one; the message says how.
  file('mine', 'network:\n  egress: []\n')
  const hint = issuesOf(() => loadConfig(config('bare-file.yaml', '    profile: mine\n'), {}))
  t.match(hint.issues[0]!.message, 'to use the file, write "./mine"')
})

t.test('a path still works: relative to the config, both file forms, .yml, description stripped', async (t) => {
  file('wrapped.yaml', 'description: my profile\ncapabilities:\n  network:\n    egress:\n      - host: api.example.com\n')
  file('bare.yml', 'description: bare form\ntools:\n  deny_list: [rm]\n')
  const w = loadConfig(config('w.yaml', '    profile: wrapped.yaml\n'), {}).config.providers.p!.capabilities
  t.strictSame(w.network.egress, [{ host: 'api.example.com' }])
  const b = loadConfig(config('b.yaml', '    profile: ./bare.yml\n    capabilities:\n      tools:\n        allow_list: [ls]\n'), {}).config.providers.p!.capabilities
  t.strictSame(b.tools.deny_list, ['rm'], 'the profile key kept')
  t.strictSame(b.tools.allow_list, ['ls'], 'the provider key added')
})

t.test('a bad profile file: errors name the provider field path and the file', async (t) => {
  const bad = file('bad.yaml', 'capabilities:\n  network:\n    egress:\n      - host: ok.example\n      - host: "*bad.example"\n  tools:\n    max_count: 0\n')
  const e = issuesOf(() => loadConfig(config('uses-bad.yaml', '    profile: ./bad.yaml\n'), {}))
  t.strictSame(e.issues.map((i) => i.path), ['providers.p.capabilities.network.egress[1].host', 'providers.p.capabilities.tools.max_count'])
  t.match(e.message, `${bad} (profile of providers.p)`)
  file('extra.yaml', 'capabilities: {}\nnetwork: {}\n')
  const x = issuesOf(() => loadConfig(config('uses-extra.yaml', '    profile: ./extra.yaml\n'), {}))
  t.strictSame(x.issues.map((i) => i.path), ['providers.p.profile'])
  t.match(x.issues[0]!.message, 'unknown field(s) "network"')
  file('desc.yaml', 'description: [1]\nnetwork: {}\n')
  t.match(issuesOf(() => loadConfig(config('uses-desc.yaml', '    profile: ./desc.yaml\n'), {})).issues[0]!.message, '"description" must be a string')
})

t.test('errors in the provider block next to a profile name the rules the user wrote', async (t) => {
  // github contributes egress[0]; the provider's own bad rule is its egress[0], not the merged [1].
  const e = issuesOf(() => loadConfig(config('own-bad.yaml', '    profile: github\n    capabilities:\n      network:\n        egress:\n          - host: "*x.example"\n'), {}))
  t.strictSame(e.issues.map((i) => i.path), ['providers.p.capabilities.network.egress[0].host'])
  // A tcp port clash between a profile rule and the provider's own rule names both sources.
  file('db.yaml', 'network:\n  egress:\n    - { host: primary.db.example, port: 5432, protocol: tcp }\n')
  const clash = issuesOf(() =>
    loadConfig(config('clash.yaml', '    profile: ./db.yaml\n    capabilities:\n      network:\n        egress:\n          - { host: replica.db.example, port: 5432, protocol: tcp }\n'), {}),
  )
  t.strictSame(clash.issues.map((i) => i.path), ['providers.p.capabilities.network.egress[0].port'])
  t.match(clash.issues[0]!.message, 'already forwarded to "primary.db.example" by providers.p.profile (./db.yaml) network.egress[0]')
})
