// Configuration loading (config/load.ts, schema.ts, policy/capabilities.ts): the
// full example loads; every broken fixture (named for its flaw) fails with a ConfigError naming the
// exact field path; ${VAR} substitution and its escape; unknown fields at any level are errors at
// their own path; the loaded config is deeply frozen. (config-strict.test.ts: unknown keys class-wide.)
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { formatPath, getProvider, loadConfig, parseConfig, substituteEnv } from '../../config/load.js'
import { ConfigError, ERROR_CODES, HangarError } from '../../core/errors.js'
import { decideRequest } from '../../policy/egress.js'
import { compilePolicy, tcpForwardRules } from '../../policy/egress-policy.js'
import { thrown } from '../helpers/thrown.js'

const FIXTURES = fileURLToPath(new URL('../fixtures/config/', import.meta.url))
const ENV = { HANGAR_SIGNAL_TOKEN: 'sig-token', HANGAR_ADMIN_TOKEN: 'admin-token' }

function fixture(name: string): string {
  return `${FIXTURES}${name}`
}

t.test('the full example of docs/configuration.md loads', async (t) => {
  const { config, warnings, source } = loadConfig(fixture('valid_full_example.yaml'), ENV)
  t.strictSame(warnings, [], 'no warnings')
  t.equal(source, fixture('valid_full_example.yaml'), 'absolute source path')
  t.strictSame(config.aggregator?.signal_tokens, ['sig-token'], '${HANGAR_SIGNAL_TOKEN} inside a flow sequence is substituted')
  t.strictSame(config.aggregator?.admin_tokens, ['admin-token'], '${HANGAR_ADMIN_TOKEN} inside a flow sequence is substituted')
  const fetch = getProvider(config, 'fetch')
  t.equal(fetch.mode, 'subprocess', 'mode')
  t.strictSame(fetch.command, ['node', './node_modules/mcp-fetch-server/dist/index.js'], 'command')
  t.equal(fetch.listen, '127.0.0.1:8101', 'listen')
  t.equal(fetch.sidecar.proxy, '0.0.0.0:3128', 'sidecar.proxy')
  t.equal(fetch.sidecar.address, '10.254.1.1', 'sidecar.address')
  t.strictSame(fetch.rate_limit, { rps: 20, burst: 40 }, 'rate_limit')
  const caps = fetch.capabilities
  t.equal(caps.enforcement_mode, 'block', 'enforcement_mode')
  t.equal(caps.network.dns_allowed, true, 'dns_allowed')
  t.equal(caps.network.dns_resolve_any, false, 'dns_resolve_any defaults to false')
  t.strictSame(caps.network.egress, [
    { host: '*.githubusercontent.com', port: 443, protocol: 'https' },
    { host: 'db.internal.example', port: 5432, protocol: 'tcp' },
    { cidr: '10.20.0.0/16', port: 5432, protocol: 'tcp' },
  ], 'egress rules')
  t.strictSame(caps.tools.allow_list, ['fetch_*'], 'tools.allow_list')
  t.equal(caps.arguments.max_payload_bytes, 262144, 'arguments.max_payload_bytes')

  // The loaded capabilities compile into the policy the decisions use.
  const policy = compilePolicy('fetch', caps)
  t.strictSame(tcpForwardRules(policy).map((r) => r.id), ['egress[1]'], 'db.internal.example:5432 becomes the one tcp forward')
  const d = decideRequest({ host: 'raw.githubusercontent.com', port: 443, protocol: 'https', via: 'connect' }, policy, { quarantined: false })
  t.equal(d.verdict, 'allow', 'raw.githubusercontent.com:443 is allowed by the example')
})

t.test('the loaded config is deeply frozen', async (t) => {
  const { config } = loadConfig(fixture('valid_full_example.yaml'), ENV)
  const fetch = getProvider(config, 'fetch')
  t.ok(Object.isFrozen(config), 'root')
  t.ok(Object.isFrozen(config.providers), 'providers')
  t.ok(Object.isFrozen(fetch.capabilities.network.egress), 'egress array')
  t.ok(Object.isFrozen(fetch.capabilities.network.egress[0]), 'egress rule')
  t.ok(Object.isFrozen(fetch.sidecar.limits), 'sidecar limits (a default)')
  t.throws(() => {
    ;(fetch.capabilities as { enforcement_mode: string }).enforcement_mode = 'alert'
  }, TypeError, 'assigning a field throws')
  t.throws(() => {
    ;(fetch.capabilities.network.egress as unknown[]).push({ host: '*.evil.example' })
  }, TypeError, 'adding a rule throws')
  t.equal(fetch.capabilities.enforcement_mode, 'block', 'unchanged')
})

interface BrokenFixture {
  file: string
  /** Every issue, in order: exact path and a pattern of its message. */
  issues: Array<[string, RegExp]>
}

const BROKEN: BrokenFixture[] = [
  { file: 'contains_middle_glob.yaml', issues: [['providers.fetch.capabilities.network.egress[2].host', /^"a\.\*\.example\.com" is not a valid host glob: .*use "\*\.example\.com"/]] },
  { file: 'leading_star_without_dot.yaml', issues: [['providers.fetch.capabilities.network.egress[2].host', /^"\*example\.com" is not a valid host glob: .*use "\*\.example\.com"/]] },
  { file: 'wildcard_over_tld.yaml', issues: [['providers.fetch.capabilities.network.egress[0].host', /"\*\.com" is not a valid host glob: .*name the registrable domain/]] },
  { file: 'noncanonical_ip_host.yaml', issues: [['providers.fetch.capabilities.network.egress[0].host', /"127\.1" is not a valid host glob: .*not a canonical IP address/]] },
  { file: 'tcp_rule_without_port.yaml', issues: [['providers.db.capabilities.network.egress[0].port', /a tcp rule must name its port/]] },
  { file: 'two_tcp_forwards_same_port.yaml', issues: [['providers.db.capabilities.network.egress[1].port', /port 5432 is already forwarded to "primary\.db\.example" by egress\[0\]/]] },
  { file: 'tcp_forward_on_sidecar_port.yaml', issues: [['providers.db.capabilities.network.egress[0].port', /port 3128 is the sidecar's own sidecar\.proxy port/]] },
  { file: 'tcp_forward_on_listen_port.yaml', issues: [['providers.db.capabilities.network.egress[0].port', /port 8101 is the sidecar's own listen port/]] },
  { file: 'unknown_capabilities_field.yaml', issues: [['providers.fetch.capabilities.enforcment_mode', /^unknown field "enforcment_mode"; did you mean "enforcement_mode"\?$/]] },
  { file: 'unknown_network_field.yaml', issues: [['providers.fetch.capabilities.network.egres', /^unknown field "egres"; did you mean "egress"\?$/]] },
  { file: 'unknown_rule_field.yaml', issues: [['providers.fetch.capabilities.network.egress[0].ports', /^unknown field "ports"; did you mean "port"\?$/]] },
  { file: 'unknown_sidecar_field.yaml', issues: [['providers.fetch.sidecar.proxy_port', /^unknown field "proxy_port"$/]] },
  { file: 'unknown_provider_field.yaml', issues: [
    ['providers.fetch.description', /^"description" is a provider key of MCP Hangar \(Python\) which this edition does not support yet/],
    ['providers.fetch.auto_start', /^"auto_start" is a provider key of MCP Hangar \(Python\) .*provider groups/],
  ] },
  { file: 'proto_key_at_top.yaml', issues: [['__proto__', /^unknown field "__proto__"$/]] },
  { file: 'duplicate_yaml_keys.yaml', issues: [['(yaml)', /Map keys must be unique at line 6/]] },
  { file: 'cidr_host_bits_set.yaml', issues: [['providers.db.capabilities.network.egress[0].cidr', /host bits are set; use "10\.20\.0\.0\/16"/]] },
  { file: 'host_and_cidr_in_one_rule.yaml', issues: [['providers.db.capabilities.network.egress[0]', /exactly one of "host" or "cidr" is required/]] },
  { file: 'rule_without_host_or_cidr.yaml', issues: [['providers.db.capabilities.network.egress[0]', /exactly one of "host" or "cidr" is required/]] },
  { file: 'bad_enforcement_mode.yaml', issues: [['providers.fetch.capabilities.enforcement_mode', /'alert' \| 'block' \| 'quarantine', received 'enforce'/]] },
  { file: 'rule_port_out_of_range.yaml', issues: [['providers.fetch.capabilities.network.egress[1].port', /less than or equal to 65535/]] },
  { file: 'listen_port_out_of_range.yaml', issues: [['providers.fetch.sidecar.proxy', /port 0–65535/]] },
  { file: 'subprocess_without_command.yaml', issues: [['providers.fetch.command', /mode "subprocess" needs a command/]] },
  { file: 'proto_key_in_network.yaml', issues: [['providers.fetch.capabilities.network.__proto__', /^unknown field "__proto__"$/]] },
  {
    file: 'many_broken_fields.yaml',
    issues: [
      ['providers.fetch.capabilities.enforcement_mode', /received 'sometimes'/],
      ['providers.fetch.capabilities.network.egress[0].host', /bare "\*" would allow every host/],
      ['providers.fetch.capabilities.network.egress[1].cidr', /use "10\.0\.0\.0\/8"/],
      ['providers.fetch.capabilities.network.egress[2].protocol', /received 'ftp'/],
    ],
  },
]

t.test('every broken fixture fails with a ConfigError naming the exact field', async (t) => {
  for (const f of BROKEN) {
    const err = thrown(() => loadConfig(fixture(f.file), ENV))
    t.type(err, ConfigError, `${f.file}: ConfigError`)
    if (!(err instanceof ConfigError)) continue
    t.equal(err.code, ERROR_CODES.CONFIG_INVALID, `${f.file}: code`)
    t.strictSame(err.issues.map((i) => i.path), f.issues.map(([p]) => p), `${f.file}: paths`)
    f.issues.forEach(([path, message], i) => {
      t.match(err.issues[i]?.message ?? '', message, `${f.file}: ${path}: message`)
      t.match(err.message, `  ${path}: `, `${f.file}: the error message lists ${path}`)
    })
    t.match(err.message, `invalid configuration in ${fixture(f.file)}`, `${f.file}: the message names the file`)
  }
})

t.test('an unset ${VAR} is HANGAR_CONFIG_ENV_UNSET naming the variable and the field', async (t) => {
  const err = thrown(() => loadConfig(fixture('unset_env_var.yaml'), ENV))
  t.type(err, HangarError, 'HangarError')
  t.equal((err as HangarError).code, ERROR_CODES.CONFIG_ENV_UNSET, 'code')
  t.match((err as Error).message, 'aggregator.signal_tokens[0]: environment variable HANGAR_TEST_UNSET_TOKEN is not set', 'names the field and the variable')

  const full = thrown(() => loadConfig(fixture('valid_full_example.yaml'), { HANGAR_SIGNAL_TOKEN: 'x' }))
  t.equal((full as HangarError).code, ERROR_CODES.CONFIG_ENV_UNSET, 'the full example without HANGAR_ADMIN_TOKEN')
  t.match((full as Error).message, /aggregator\.admin_tokens\[0\]: environment variable HANGAR_ADMIN_TOKEN is not set/, 'names HANGAR_ADMIN_TOKEN')

  const inFlow = thrown(() => parseConfig('aggregator:\n  admin_tokens: [${NOPE_NOT_SET}]\n', '<inline>', {}))
  t.equal((inFlow as HangarError).code, ERROR_CODES.CONFIG_ENV_UNSET, 'unquoted in a flow sequence')
  t.match((inFlow as Error).message, 'NOPE_NOT_SET', 'names the variable')
})

t.test('${VAR} substitution and the $${X} escape', async (t) => {
  const text = [
    'aggregator:',
    '  data_dir: ./data/${ENV_NAME}/audit',
    '  signal_tokens: [$${LITERAL}, ${TOKEN}, "${TOKEN}-quoted", \'${TOKEN}\']',
    '  admin_tokens:',
    '    - $${NOT_SUBSTITUTED}',
    '    - ${INJECT}',
    'providers:',
    '  fetch:',
    '    command: [node, "${SCRIPT}"]',
    '    env: {API_KEY: ${API_KEY}, PLAIN: "$${HOME}"}',
    '# ${ONLY_IN_A_COMMENT} is never looked up',
  ].join('\n')
  const env = { ENV_NAME: 'prod', TOKEN: 't0k', INJECT: 'x]\n  evil: [y', SCRIPT: 'server.js', API_KEY: 'k: v' }
  const { config } = parseConfig(text, '<inline>', env)
  t.equal(config.aggregator?.data_dir, './data/prod/audit', 'inside a longer string')
  t.strictSame(config.aggregator?.signal_tokens, ['${LITERAL}', 't0k', 't0k-quoted', 't0k'], 'flow sequence: escape, plain, double- and single-quoted')
  t.strictSame(config.aggregator?.admin_tokens, ['${NOT_SUBSTITUTED}', 'x]\n  evil: [y'], 'block sequence; a value with YAML syntax stays one string')
  t.strictSame(getProvider(config, 'fetch').command, ['node', 'server.js'], 'quoted in a flow sequence')
  t.strictSame(getProvider(config, 'fetch').env, { API_KEY: 'k: v', PLAIN: '${HOME}' }, 'flow mapping values')
  t.equal(substituteEnv('a $${B} ${C}', { C: 'c' }), 'a ${B} c', 'substituteEnv directly')
})

t.test('unknown fields are errors at every level, never warnings', async (t) => {
  const top = thrown(() => parseConfig('mcp_servers: {}\nproviders:\n  fetch:\n    command: [x]\n'))
  t.type(top, ConfigError, 'an unknown top-level key')
  t.strictSame((top as ConfigError).issues, [{ path: 'mcp_servers', message: 'unknown field "mcp_servers"' }], 'named at its own path')
  // Control: the same file without the key loads, without warnings.
  t.strictSame(parseConfig('providers:\n  fetch:\n    command: [x]\n').warnings, [], 'no warnings')
})

t.test('a "__proto__" key never smuggles a provider in', async (t) => {
  const err = thrown(() => loadConfig(fixture('proto_key_at_top.yaml'), ENV))
  t.type(err, ConfigError, 'refused')
  t.strictSame((err as ConfigError).issues.map((i) => i.path), ['__proto__'], 'the only issue is the __proto__ key itself: no provider "evil" was ever validated')
})

t.test('other load errors', async (t) => {
  const missing = thrown(() => loadConfig(fixture('does_not_exist.yaml')))
  t.equal((missing as HangarError).code, ERROR_CODES.CONFIG_NOT_FOUND, 'missing file')
  const list = thrown(() => parseConfig('- a\n- b\n'))
  t.type(list, ConfigError, 'a top-level list')
  t.strictSame((list as ConfigError).issues, [{ path: '(root)', message: 'expected a mapping' }], 'root issue')
  const badName = thrown(() => parseConfig('providers:\n  "bad name!":\n    command: [x]\n'))
  t.type(badName, ConfigError, 'a bad provider name')
  t.match((badName as ConfigError).issues[0]?.message ?? '', /provider names are letters, digits/, 'bad provider name message')
  const unknown = thrown(() => getProvider(parseConfig('providers:\n  a:\n    command: [x]\n').config, 'b'))
  t.equal((unknown as HangarError).code, ERROR_CODES.PROVIDER_UNKNOWN, 'unknown provider')
  t.match((unknown as Error).message, 'known: a', 'lists the known providers')
  const empty = parseConfig('')
  t.strictSame(empty.config.providers, {}, 'an empty file is an empty config')
})

t.test('formatPath', async (t) => {
  t.equal(formatPath(['providers', 'fetch', 'capabilities', 'network', 'egress', 2, 'host']), 'providers.fetch.capabilities.network.egress[2].host')
  t.equal(formatPath([]), '(root)')
  t.equal(formatPath(['aggregator', 'signal_tokens', 0]), 'aggregator.signal_tokens[0]')
})

t.test('upstream_dns must be "system" or an IP literal with a port, named by path at load', async (t) => {
  const { parseConfig } = await import('../../config/load.js')
  const bad = `providers:\n  p:\n    mode: remote\n    endpoint: http://127.0.0.1:1/mcp\n    sidecar:\n      upstream_dns: [system, "dns.example:53"]\n`
  let issues: Array<{ path: string; message: string }> = []
  try {
    parseConfig(bad)
  } catch (e) {
    issues = (e as { issues: typeof issues }).issues
  }
  t.ok(issues.some((i) => i.path === 'providers.p.sidecar.upstream_dns[1]' && /host name would itself need resolving/.test(i.message)), JSON.stringify(issues))
  const good = `providers:\n  p:\n    mode: remote\n    endpoint: http://127.0.0.1:1/mcp\n    sidecar:\n      upstream_dns: [system, "10.0.0.2:53", "[fd00::53]:53"]\n`
  t.same(parseConfig(good).config.providers.p!.sidecar.upstream_dns, ['system', '10.0.0.2:53', '[fd00::53]:53'])
})

t.test('${VAR} in number and boolean fields: "443" is 443, "true" is true; non-numbers still fail by path', async (t) => {
  const { parseConfig } = await import('../../config/load.js')
  const text = 'providers:\n  p:\n    mode: remote\n    endpoint: http://127.0.0.1:1/mcp\n    idle_ttl_s: ${TTL}\n    capabilities:\n      network:\n        loopback_allowed: ${LOOP}\n        egress:\n          - host: db.internal.example\n            port: ${DB_PORT}\n            protocol: tcp\n'
  const ok = parseConfig(text, '<inline>', { TTL: '120', LOOP: 'true', DB_PORT: '5432' }).config.providers.p!
  t.equal(ok.idle_ttl_s, 120)
  t.equal(ok.capabilities.network.loopback_allowed, true)
  t.equal(ok.capabilities.network.egress[0]!.port, 5432)
  let issues: Array<{ path: string; message: string }> = []
  try {
    parseConfig(text, '<inline>', { TTL: '120', LOOP: 'yes please', DB_PORT: 'five' })
  } catch (e) {
    issues = (e as { issues: typeof issues }).issues
  }
  t.same(issues.map((i) => i.path).sort(), ['providers.p.capabilities.network.egress[0].port', 'providers.p.capabilities.network.loopback_allowed'])
})

t.test('profile files: ${VAR} substituted, errors named by the provider path, missing file named', async (t) => {
  const { mkdtempSync, writeFileSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const { loadConfig } = await import('../../config/load.js')
  const dir = mkdtempSync(join(tmpdir(), 'hangar-profile-'))
  t.teardown(async () => (await import('node:fs')).rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'db.yaml'), 'capabilities:\n  network:\n    egress:\n      - host: ${DB_HOST}\n        port: ${DB_PORT}\n        protocol: tcp\n')
  writeFileSync(join(dir, 'bad.yaml'), 'network:\n  egress:\n    - host: "*example.com"\n')
  const cfg = (profile: string) => {
    const p = join(dir, `hangar-${profile}.yaml`)
    writeFileSync(p, `providers:\n  pg:\n    mode: remote\n    endpoint: http://127.0.0.1:1/mcp\n    profile: ${profile}\n`)
    return p
  }
  const ok = loadConfig(cfg('db.yaml'), { DB_HOST: 'db.internal.example', DB_PORT: '5432' }).config.providers.pg!
  t.same(ok.capabilities.network.egress[0], { host: 'db.internal.example', port: 5432, protocol: 'tcp' })
  t.throws(() => loadConfig(cfg('db.yaml'), {}), { code: 'HANGAR_CONFIG_ENV_UNSET', message: /DB_HOST/ })
  let issues: Array<{ path: string }> = []
  try {
    loadConfig(cfg('bad.yaml'), {})
  } catch (e) {
    issues = (e as { issues: typeof issues }).issues
  }
  t.same(issues.map((i) => i.path), ['providers.pg.capabilities.network.egress[0].host'])
  t.throws(() => loadConfig(cfg('missing.yaml'), {}), { code: 'HANGAR_CONFIG_NOT_FOUND', message: /providers\.pg\.profile/ })
})

t.test('an unknown secret pattern is a load error naming the field and the known names', async (t) => {
  const { parseConfig } = await import('../../config/load.js')
  let issues: Array<{ path: string; message: string }> = []
  try {
    parseConfig('providers:\n  p:\n    mode: remote\n    endpoint: http://127.0.0.1:1/mcp\n    capabilities:\n      arguments:\n        secret_patterns: [aws-keys, aws-key]\n')
  } catch (e) {
    issues = (e as { issues: typeof issues }).issues
  }
  t.equal(issues[0]?.path, 'providers.p.capabilities.arguments.secret_patterns[1]')
  t.match(issues[0]?.message ?? '', /unknown secret pattern "aws-key" \(known: aws-keys,/)
})
