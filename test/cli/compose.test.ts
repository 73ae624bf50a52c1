// cli/compose.ts: `compose inject` as the command runs it: the input replaced atomically by
// default, -o elsewhere (with the note about relative paths), "-" to stdout, nothing written when
// an override file touches an isolated provider (and written once it is gone), a missing file
// named, and the summary lines.
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { formatInjectSummary, runComposeInject, type InjectCommand } from '../../cli/compose.js'
import { ConfigError, ERROR_CODES, HangarError } from '../../core/errors.js'
import { thrown } from '../helpers/thrown.js'

const SOURCE = `services:
  web:
    image: nginx
  tool:
    image: example/mcp-tool
    ports: ["3000:8080"]
    labels:
      mcp.hangar.enabled: "true"
`

const cmd = (file: string, extra: Partial<InjectCommand> = {}): InjectCommand => ({ file, sidecarImage: 'mcp-hangar/sidecar:test', aggregatorImage: 'mcp-hangar/aggregator:test', projectName: 'p', ...extra })

t.test('default: the input file is replaced atomically; the summary names what was done', async (t) => {
  const dir = t.testdir({ 'docker-compose.yml': SOURCE })
  const file = join(dir, 'docker-compose.yml')
  const lines: string[] = []
  const r = runComposeInject(cmd(file), (l) => lines.push(l))
  const written = readFileSync(file, 'utf8')
  t.equal(written, r.text)
  t.not(written, SOURCE)
  t.match(written, /mcp\.hangar\.generated/)
  t.strictSame(readdirSync(dir), ['docker-compose.yml'], 'no temp file left')
  t.equal(lines.at(-1), `wrote ${file}`)
  t.match(lines[0]!, /^tool: behind \S+ on \S+ \(10\.253\.\d+\.\d+\/28, sidecar 10\.253\.\d+\.\d+\); MCP \S+ served on :\d+; profile \(none: all egress denied\)$/)
  t.ok(lines.some((l) => /^ {2}hardening added: cap_drop, read_only/.test(l)))
})

t.test('-o in another directory: written there, with the note about relative paths; the input is left alone', async (t) => {
  const dir = t.testdir({ src: { 'compose.yaml': SOURCE }, out: {} })
  const lines: string[] = []
  const out = join(dir, 'out', 'hangar.yml')
  runComposeInject(cmd(join(dir, 'src', 'compose.yaml'), { out }), (l) => lines.push(l))
  t.ok(existsSync(out))
  t.equal(readFileSync(join(dir, 'src', 'compose.yaml'), 'utf8'), SOURCE)
  t.ok(lines.some((l) => l.startsWith(`note: ${out} is in another directory than`)))
  const same: string[] = []
  runComposeInject(cmd(join(dir, 'src', 'compose.yaml'), { out: join(dir, 'src', 'other.yml') }), (l) => same.push(l))
  t.notOk(same.some((l) => l.includes('another directory')), 'control: no note in the same directory')
})

t.test('an override file touching the provider: nothing written; once removed, written', async (t) => {
  const dir = t.testdir({ 'compose.yaml': SOURCE, 'compose.override.yaml': 'services:\n  tool:\n    network_mode: host\n' })
  const file = join(dir, 'compose.yaml')
  const e = thrown(() => runComposeInject(cmd(file), () => {}))
  t.ok(e instanceof ConfigError)
  t.match((e as Error).message, /compose\.override\.yaml/)
  t.equal(readFileSync(file, 'utf8'), SOURCE, 'the input is unchanged')
  t.strictSame(readdirSync(dir).sort(), ['compose.override.yaml', 'compose.yaml'], 'no temp file')
  writeFileSync(join(dir, 'compose.override.yaml'), 'services:\n  web:\n    environment: {A: "1"}\n')
  runComposeInject(cmd(file), () => {})
  t.not(readFileSync(file, 'utf8'), SOURCE, 'control: a harmless override lets it write')
})

t.test('"-" writes to stdout and checks no override', async (t) => {
  const dir = t.testdir({ 'compose.yaml': SOURCE, 'compose.override.yaml': 'services:\n  tool:\n    network_mode: host\n' })
  const chunks: string[] = []
  const write = process.stdout.write.bind(process.stdout)
  process.stdout.write = ((c: string | Uint8Array) => {
    chunks.push(String(c))
    return true
  }) as typeof process.stdout.write
  const lines: string[] = []
  let r
  try {
    r = runComposeInject(cmd(join(dir, 'compose.yaml'), { out: '-' }), (l) => lines.push(l))
  } finally {
    process.stdout.write = write
  }
  t.equal(chunks.join(''), r.text)
  t.equal(lines.at(-1), 'wrote stdout')
  t.equal(readFileSync(join(dir, 'compose.yaml'), 'utf8'), SOURCE)
})

t.test('a missing file is HANGAR_CONFIG_NOT_FOUND naming it', async (t) => {
  const dir = t.testdir({})
  const e = thrown(() => runComposeInject(cmd(join(dir, 'nope.yml')), () => {}))
  t.ok(e instanceof HangarError)
  t.equal((e as HangarError).code, ERROR_CODES.CONFIG_NOT_FOUND)
  t.equal((e as Error).message, `compose file not found: ${join(dir, 'nope.yml')}`)
})

t.test('formatInjectSummary: provider renamed, host access, notes', async (t) => {
  const lines = formatInjectSummary({
    text: '',
    notes: ['version: dropped'],
    providers: [{
      service: 'mcp.server', provider: 'mcp-server', sidecar: 'hangar-sidecar-mcp-server', network: 'hangar_mcp-server', subnet: '10.253.0.0/28', sidecarAddress: '10.253.0.2',
      endpoint: 'http://hangar-sidecar-mcp-server:8080/mcp', ingressPort: 8080, profile: 'fetch', hardening: [], hostAccess: [{ grant: 'pid', path: 'services.mcp.server.pid', setting: 'host' }],
    }],
  } as never, '/x/out.yml')
  t.strictSame(lines, [
    'mcp.server (provider mcp-server): behind hangar-sidecar-mcp-server on hangar_mcp-server (10.253.0.0/28, sidecar 10.253.0.2); MCP http://hangar-sidecar-mcp-server:8080/mcp served on :8080; profile fetch',
    '  HOST ACCESS granted (pid): services.mcp.server.pid: host',
    'note: version: dropped',
    'wrote /x/out.yml',
  ])
})
