// The stdio child (proxy/stdio/child.ts): real processes. Framing over real pipes, noise on stdout
// logged and skipped, stderr logged with a kept tail that explains the exit, the 16 MiB line limit,
// spawn errors, a minimal environment, the wrap prefix, process-group kills and EPIPE on stdin.
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import t from 'tap'
import { pidAlive as alive } from '../../fixtures/mcp/harness.js'
import { childEnvironment, describeExit, INHERITED_ENV_NAMES, spawnStdioChild, type ChildExit, type StdioChild } from '../../../proxy/stdio/child.js'
import type { JsonRpcMessage } from '../../../proxy/types.js'

const NODE = process.execPath
const FIXTURE = fileURLToPath(new URL('../../fixtures/mcp/fixture-server.mjs', import.meta.url))
const BASE_ENV = childEnvironment(process.env)

/** A pino logger that records every line as an object. */
function captureLog() {
  const lines: Array<Record<string, unknown>> = []
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) })
  return { logger, lines }
}

function nextMessage(c: StdioChild): Promise<JsonRpcMessage> {
  return once(c, 'message').then(([m]) => m as JsonRpcMessage)
}

const INIT = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } } as const

t.test('a real MCP server: initialize round trip over the pipes, noise skipped with a warning', async (t) => {
  const { logger, lines } = captureLog()
  const c = spawnStdioChild({ name: 'fx', command: [NODE, FIXTURE], env: { ...BASE_ENV, FIXTURE_STDOUT_NOISE: '1' }, logger })
  t.teardown(() => void c.kill('SIGKILL'))
  t.type(c.pid, 'number')
  const answer = nextMessage(c)
  t.ok(c.send(INIT), 'send accepted')
  const m = await answer
  t.match(m, { jsonrpc: '2.0', id: 1, result: { serverInfo: { name: 'hangar-fixture' } } })
  const warn = lines.find((l) => l.msg === 'provider wrote a non-JSON-RPC line to stdout; skipped')
  t.ok(warn, 'the banner was logged')
  t.match(warn, { level: 40, provider: 'fx', line: /^hangar fixture server starting/, reason: /not JSON/ })
  c.closeStdin()
  const [exit] = (await once(c, 'exit')) as [ChildExit]
  t.equal(exit.code, 0, 'closing stdin ends the MCP server cleanly')
  t.equal(c.send(INIT), false, 'send after exit returns false')
})

t.test('stderr: debug lines with the provider name, a 20-line tail, 2 KiB truncation, exit explained', async (t) => {
  const { logger, lines } = captureLog()
  const script = `for (let i = 0; i < 30; i++) console.error('line ' + i); console.error('x'.repeat(5000)); console.error('last words'); process.exit(3)`
  const c = spawnStdioChild({ name: 'err', command: [NODE, '-e', script], env: BASE_ENV, logger })
  const [exit] = (await once(c, 'exit')) as [ChildExit]
  t.equal(exit.code, 3)
  t.equal(exit.stderrTail.length, 20, 'the last 20 lines are kept')
  t.equal(exit.stderrTail[0], 'line 12')
  t.equal(exit.stderrTail[18], 'x'.repeat(2048), 'a long line is truncated to 2 KiB')
  t.equal(exit.stderrTail[19], 'last words')
  t.equal(exit.description, 'exited with code 3: last words')
  const debug = lines.filter((l) => l.msg === 'provider stderr')
  t.equal(debug.length, 32, 'every stderr line is logged')
  t.match(debug[0], { level: 20, provider: 'err', stderr: 'line 0' })
})

t.test('a stdout line over the limit kills the child and explains the exit', async (t) => {
  const { logger, lines } = captureLog()
  // 17 MiB without a newline against the default 16 MiB limit.
  const script = `const b = Buffer.alloc(1024 * 1024, 97); let n = 0; const w = () => { while (n < 17) { n++; if (!process.stdout.write(b)) return process.stdout.once('drain', w) } }; w(); setInterval(() => {}, 1000)`
  const c = spawnStdioChild({ name: 'big', command: [NODE, '-e', script], env: BASE_ENV, logger })
  let messages = 0
  c.on('message', () => messages++)
  const [exit] = (await once(c, 'exit')) as [ChildExit]
  t.equal(exit.signal, 'SIGKILL')
  t.match(exit.error, /^stdout line longer than 16777216 bytes/)
  t.match(exit.description, /^killed by SIGKILL \(stdout line longer than 16777216 bytes/)
  t.equal(messages, 0)
  t.ok(lines.some((l) => l.level === 50 && l.msg === 'provider stdout line too long; killing the provider'))
})

t.test('a small maxLineBytes applies to a line that arrives with its newline', async (t) => {
  const c = spawnStdioChild({ name: 'small', command: [NODE, '-e', `console.log(JSON.stringify({jsonrpc:'2.0',method:'x',params:{p:'y'.repeat(200)}})); setInterval(() => {}, 1000)`], env: BASE_ENV, maxLineBytes: 100 })
  const [exit] = (await once(c, 'exit')) as [ChildExit]
  t.equal(exit.signal, 'SIGKILL')
  t.match(exit.error, /longer than 100 bytes/)
})

t.test('ENOENT: an exit event with a clear description; this process is unaffected', async (t) => {
  const c = spawnStdioChild({ name: 'missing', command: ['/nonexistent/mcp-server-xyz', '--stdio'], env: BASE_ENV })
  t.equal(c.send(INIT), true, 'a write before the spawn error is reported does not throw')
  const [exit] = (await once(c, 'exit')) as [ChildExit]
  t.equal(c.pid, undefined)
  t.equal(exit.code, null)
  t.match(exit.description, /^failed to start: spawn \/nonexistent\/mcp-server-xyz ENOENT \(no such executable, or the cwd does not exist\)$/)
  t.equal(c.send(INIT), false)
  t.equal(c.kill('SIGTERM'), false, 'nothing to signal')
  t.equal(await c.waitExit(10), true)
})

t.test('a missing cwd is a spawn error too', async (t) => {
  const c = spawnStdioChild({ name: 'badcwd', command: [NODE, '-e', '0'], env: BASE_ENV, cwd: '/nonexistent/dir' })
  const [exit] = (await once(c, 'exit')) as [ChildExit]
  t.match(exit.description, /^failed to start: .*ENOENT/)
})

t.test('environment: only the inherited names and the configured env reach the child', async (t) => {
  const inherited = { ...process.env, PATH: process.env.PATH, HOME: '/home/hangar', HANGAR_ADMIN_TOKEN: 'secret', AWS_SECRET_ACCESS_KEY: 'secret', BASH_FUNC_x: '() { :; }', TERM: '() { evil; }' }
  const env = childEnvironment(inherited, { API_URL: 'http://x', HOME: '/override' })
  t.equal(env.HANGAR_ADMIN_TOKEN, undefined)
  t.equal(env.AWS_SECRET_ACCESS_KEY, undefined)
  t.equal(env.TERM, undefined, 'an exported shell function is dropped')
  t.equal(env.HOME, '/override', 'configured env wins')
  t.equal(env.API_URL, 'http://x')
  for (const k of Object.keys(env)) t.ok((INHERITED_ENV_NAMES as readonly string[]).includes(k) || k === 'API_URL', `${k} is allowed`)
  t.same(childEnvironment({ PATH: '/bin', FOO: 'x' }, {}, ['FOO']), { FOO: 'x' }, 'a custom name list')

  const script = `process.stdout.write(JSON.stringify({ jsonrpc: '2.0', method: 'env', params: process.env }) + '\\n')`
  const c = spawnStdioChild({ name: 'env', command: [NODE, '-e', script], env })
  const m = (await nextMessage(c)) as unknown as { params: Record<string, string> }
  t.equal(m.params.HANGAR_ADMIN_TOKEN, undefined, 'the sidecar’s token did not reach the child')
  t.equal(m.params.API_URL, 'http://x')
  t.equal(m.params.PATH, process.env.PATH)
  await c.exited
})

t.test('wrap: the argv prefix runs first', async (t) => {
  const script = `process.stdout.write(JSON.stringify({ jsonrpc: '2.0', method: 'argv', params: { foo: process.env.FOO, argv: process.argv.slice(1) } }) + '\\n')`
  const c = spawnStdioChild({ name: 'wrap', command: [NODE, '-e', script, 'a1'], env: BASE_ENV, wrap: ['/usr/bin/env', 'FOO=wrapped'] })
  const m = (await nextMessage(c)) as unknown as { params: { foo: string; argv: string[] } }
  t.equal(m.params.foo, 'wrapped', 'env(1) from the prefix ran the command')
  t.same(m.params.argv, ['a1'])
  await c.exited
})

t.test('kill signals the process group: a grandchild behind a shell goes too', async (t) => {
  // sh starts a node grandchild that reports its pid, then waits on it.
  const inner = `process.stdout.write(JSON.stringify({jsonrpc:'2.0',method:'pid',params:{pid:process.pid}})+'\\n'); setInterval(()=>{},1000)`
  const c = spawnStdioChild({ name: 'group', command: ['/bin/sh', '-c', `"${NODE}" -e "${inner.replace(/"/g, '\\"')}" & wait`], env: BASE_ENV })
  const m = (await nextMessage(c)) as unknown as { params: { pid: number } }
  const grandchild = m.params.pid
  t.ok(alive(grandchild), 'grandchild running')
  t.equal(c.kill('SIGTERM'), true)
  const exit = await c.exited
  t.equal(exit.signal, 'SIGTERM')
  for (let i = 0; i < 100 && alive(grandchild); i++) await new Promise((r) => setTimeout(r, 20))
  t.notOk(alive(grandchild), 'the grandchild is gone as well')
})

t.test('writes to a child that closed its stdin (EPIPE) never throw', async (t) => {
  const c = spawnStdioChild({ name: 'epipe', command: [NODE, '-e', `process.stdin.destroy(); console.error('closed'); setTimeout(() => process.exit(0), 300)`], env: BASE_ENV })
  await new Promise((r) => setTimeout(r, 150))
  const big = { jsonrpc: '2.0' as const, method: 'x', params: { pad: 'p'.repeat(256 * 1024) } }
  for (let i = 0; i < 20; i++) c.send(big)
  const exit = await c.exited
  t.equal(exit.code, 0, 'the child exited by itself; no exception reached this process')
  t.equal(c.send(big), false)
})

t.test('describeExit wording', async (t) => {
  t.equal(describeExit({ code: 1, signal: null, stderrTail: ['a', 'Error: boom  ', ''] }), 'exited with code 1: Error: boom')
  t.equal(describeExit({ code: null, signal: 'SIGKILL', stderrTail: [] }), 'killed by SIGKILL')
  t.equal(describeExit({ code: 0, signal: null, stderrTail: [] }), 'exited with code 0')
  t.equal(describeExit({ code: null, signal: null, error: 'spawn x ENOENT', spawnFailed: true, stderrTail: ['ignored'] }), 'failed to start: spawn x ENOENT')
  t.equal(describeExit({ code: null, signal: 'SIGKILL', error: 'stdout line longer than 8 bytes', stderrTail: ['tail'] }), 'killed by SIGKILL (stdout line longer than 8 bytes): tail')
})
