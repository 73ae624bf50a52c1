// local/config-secrets.ts: the config paths of secrets written literally in a hangar.yaml (tokens,
// secret-looking env values, passwords in endpoint URLs); values taken from ${VAR} are not.
import t from 'tap'
import { SECRET_ENV_KEY, literalSecrets } from '../../local/config-secrets.js'

t.test('SECRET_ENV_KEY: names that hold secrets by convention', async (t) => {
  for (const k of ['GITHUB_TOKEN', 'client_secret', 'DB_PASSWORD', 'PASSWD', 'OPENAI_API_KEY', 'APIKEY', 'SSH_PRIVATE_KEY', 'AWS_ACCESS_KEY_ID', 'GOOGLE_CREDENTIALS', 'BASIC_AUTH']) t.ok(SECRET_ENV_KEY.test(k), k)
  for (const k of ['PATH', 'HOME', 'LOG_LEVEL', 'NODE_ENV', 'PORT']) t.notOk(SECRET_ENV_KEY.test(k), k)
})

t.test('every literal secret is named by its config path', async (t) => {
  const text = `
aggregator:
  signal_tokens: [literal-1, "\${SIG}"]
  admin_tokens: ["adm"]
providers:
  gh:
    command: [node, s.js]
    env: { GITHUB_TOKEN: ghp_abc, LOG_LEVEL: debug, API_KEY: "\${KEY}", EMPTY_SECRET: "" }
    ingress: { auth_tokens: ["\${T}", tok2] }
  remote:
    mode: remote
    endpoint: https://user:pa55@api.test/mcp
  plain:
    mode: remote
    endpoint: https://user@api.test/mcp
`
  t.strictSame(literalSecrets(text), ['aggregator.signal_tokens[0]', 'aggregator.admin_tokens[0]', 'providers.gh.ingress.auth_tokens[1]', 'providers.gh.env.GITHUB_TOKEN', 'providers.remote.endpoint'])
})

t.test('a config with every secret from the environment has none', async (t) => {
  const text = 'aggregator:\n  signal_tokens: ["${A}"]\n  admin_tokens: ["${B}"]\nproviders:\n  p:\n    env: { TOKEN: "${T}" }\n    ingress: { auth_tokens: ["${C}"] }\n'
  t.strictSame(literalSecrets(text), [])
})

t.test('YAML merge keys are followed', async (t) => {
  const text = 'x-env: &env\n  DB_PASSWORD: hunter2\nproviders:\n  db:\n    env:\n      <<: *env\n'
  t.strictSame(literalSecrets(text), ['providers.db.env.DB_PASSWORD'])
})

t.test('unparseable or odd shapes give none, not an error', async (t) => {
  for (const text of ['a: [', '', 'just a string', 'providers: [1, 2]', 'aggregator: {signal_tokens: notalist}', 'providers:\n  p:\n    endpoint: "not a url:pw@"\n']) {
    t.strictSame(literalSecrets(text), [], JSON.stringify(text))
  }
  t.strictSame(literalSecrets('aggregator: {signal_tokens: [1, true, "x"]}'), ['aggregator.signal_tokens[2]'], 'only string tokens count')
})
