// compose/overrides.ts: files Compose merges at `up` beside the one inject wrote (override files
// beside a default-named file, COMPOSE_FILE in .env) may not touch an isolated provider or label a
// service; label_file entries may not carry mcp-hangar labels.
import { join } from 'node:path'
import t from 'tap'
import * as Y from 'yaml'
import { DEFAULT_COMPOSE_FILES, OVERRIDE_FILES, checkOverrides, labelFileIssues } from '../../compose/overrides.js'
import { ConfigError } from '../../core/errors.js'
import { thrown } from '../helpers/thrown.js'

const touching = 'services:\n  prov:\n    network_mode: host\n'
const labelling = 'services:\n  other:\n    labels: {mcp.hangar.enabled: "true"}\n'
const harmless = 'services:\n  other:\n    environment: {A: "1"}\n'

t.test('the default and override names are the ones Compose reads', async (t) => {
  t.strictSame([...DEFAULT_COMPOSE_FILES], ['compose.yaml', 'compose.yml', 'docker-compose.yaml', 'docker-compose.yml'])
  t.equal(OVERRIDE_FILES.length, 4)
  for (const o of OVERRIDE_FILES) t.match(o, /override\.ya?ml$/)
})

t.test('each override name beside a default-named output: touching a provider is refused', async (t) => {
  for (const name of OVERRIDE_FILES) {
    const dir = t.testdir({ [name]: touching })
    const e = thrown(() => checkOverrides(Y, join(dir, 'docker-compose.yml'), ['prov']))
    t.ok(e instanceof ConfigError, name)
    t.match((e as Error).message, new RegExp(`invalid configuration in ${join(dir, name).replace(/\./g, '\\.')}`), `${name}: names the file`)
    t.equal((e as ConfigError).issues[0]!.path, 'services.prov')
    t.match((e as ConfigError).issues[0]!.message, /Compose merges this over the isolated provider prov/)
  }
})

t.test('an override that labels another service is refused at services.<name>.labels', async (t) => {
  const dir = t.testdir({ 'compose.override.yml': labelling })
  const e = thrown(() => checkOverrides(Y, join(dir, 'compose.yaml'), ['prov']))
  t.equal((e as ConfigError).issues[0]!.path, 'services.other.labels')
  t.match((e as ConfigError).issues[0]!.message, /mcp\.hangar\.enabled: Compose merges these labels/)
})

t.test('controls: a harmless override, a non-default output name, no override at all', async (t) => {
  const dir = t.testdir({ 'compose.override.yml': harmless })
  t.doesNotThrow(() => checkOverrides(Y, join(dir, 'compose.yaml'), ['prov']), 'harmless override')
  const dir2 = t.testdir({ 'compose.override.yml': touching })
  t.doesNotThrow(() => checkOverrides(Y, join(dir2, 'hangar-compose.yml'), ['prov']), 'output not under a default name: Compose does not merge the override')
  const dir3 = t.testdir({})
  t.doesNotThrow(() => checkOverrides(Y, join(dir3, 'compose.yaml'), ['prov']), 'no override')
})

t.test('COMPOSE_FILE in .env listing the output: the other files are checked', async (t) => {
  const dir = t.testdir({ '.env': 'export COMPOSE_FILE="out.yml:extra.yml"\n', 'extra.yml': touching })
  const e = thrown(() => checkOverrides(Y, join(dir, 'out.yml'), ['prov']))
  t.ok(e instanceof ConfigError)
  t.match((e as Error).message, /extra\.yml/)
  // control: COMPOSE_FILE that does not list the output is not the project inject wrote
  const dir2 = t.testdir({ '.env': 'COMPOSE_FILE=a.yml:extra.yml\n', 'extra.yml': touching })
  t.doesNotThrow(() => checkOverrides(Y, join(dir2, 'out.yml'), ['prov']))
})

t.test('COMPOSE_PATH_SEPARATOR is honoured', async (t) => {
  const dir = t.testdir({ '.env': "COMPOSE_PATH_SEPARATOR=;\nCOMPOSE_FILE='out.yml;extra.yml'\n", 'extra.yml': labelling })
  t.throws(() => checkOverrides(Y, join(dir, 'out.yml'), ['prov']), ConfigError)
  const dir2 = t.testdir({ '.env': "COMPOSE_FILE='out.yml;extra.yml'\n", 'extra.yml': labelling })
  t.doesNotThrow(() => checkOverrides(Y, join(dir2, 'out.yml'), ['prov']), 'control: with ":" the list is one (missing) file')
})

t.test('an override that is not valid YAML is refused', async (t) => {
  const dir = t.testdir({ 'compose.override.yaml': 'a: [\n' })
  t.throws(() => checkOverrides(Y, join(dir, 'compose.yaml'), ['prov']), ConfigError)
})

t.test('labelFileIssues: our labels in a label file are refused, others allowed', async (t) => {
  const dir = t.testdir({ 'ok.env': '# comment\nA=1\n\nB=2\n', 'ours.env': 'A=1\nmcp.hangar.enabled=true\nMCP_HANGAR_PROFILE=x\n' })
  t.strictSame(labelFileIssues('p', 'ok.env', dir), [])
  t.strictSame(labelFileIssues('p', ['ok.env'], dir), [])
  const i = labelFileIssues('p', 'ours.env', dir)
  t.equal(i.length, 1)
  t.equal(i[0]!.path, 'services.p.label_file')
  t.match(i[0]!.message, /mcp\.hangar\.enabled, MCP_HANGAR_PROFILE: mcp-hangar labels must be written under labels/)
  t.equal(labelFileIssues('p', ['ok.env', join(dir, 'ours.env')], dir)[0]!.path, 'services.p.label_file[1]', 'list index, absolute path read')
})

t.test('labelFileIssues: unreadable files and variables are refused', async (t) => {
  const dir = t.testdir({})
  t.match(labelFileIssues('p', 'missing.env', dir)[0]!.message, /cannot read missing\.env/)
  t.match(labelFileIssues('p', '${F}', dir)[0]!.message, /path written out/)
  t.match(labelFileIssues('p', 5, dir)[0]!.message, /path written out/)
  t.equal(labelFileIssues('p', 5, dir)[0]!.path, 'services.p.label_file[0]')
})
