/**
 * createLogger / silentLogger (core/log.ts) in child processes (the logger writes to fd 2): the
 * human format is one line per record with time, level, name, message and the object's fields;
 * the JSON format is pino's JSON lines with an ISO time; the level filters; stdout stays empty
 * (it carries command output and the JSON-lines signal sink); silentLogger writes nothing.
 */
import t from 'tap'
import { fileURLToPath } from 'node:url'
import { runModule } from '../helpers/child.js'

const LOG = fileURLToPath(new URL('../../core/log.ts', import.meta.url))
/** The repository root: children resolve tsx from its node_modules. */
const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** Runs `body` (JS using `createLogger`, `silentLogger`) in a child; resolves with its stdout and stderr. */
function run(body: string): Promise<{ out: string; err: string; code: number | null }> {
  return runModule(`const { createLogger, silentLogger } = await import(${JSON.stringify(LOG)});\n${body}`, ROOT)
}

t.test('human format: one line per record on stderr, level filtered, fields as JSON after the message', async (t) => {
  const r = await run(`const l = createLogger({ level: 'info', json: false, name: 'egress' })
l.debug('hidden')
l.info({ provider: 'p1', port: 443 }, 'listening')
l.warn('plain')
l.error({ err: new Error('boom') }, 'failed')`)
  t.equal(r.code, 0)
  t.equal(r.out, '', 'nothing on stdout')
  const lines = r.err.trimEnd().split('\n')
  t.equal(lines.length, 3, 'debug filtered out at level info')
  t.match(lines[0], /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z INFO {2}\[egress\] listening \{"provider":"p1","port":443\}$/)
  t.match(lines[1], /^\S+ WARN {2}\[egress\] plain$/, 'no fields: nothing after the message')
  t.match(lines[2], /^\S+ ERROR \[egress\] failed \{"err":\{.*"message":"boom"/)
  t.notMatch(r.err, /hidden/)
})

t.test('JSON format: pino lines with an ISO time, level number and name; default name mcp-hangar', async (t) => {
  const r = await run(`const l = createLogger({ level: 'debug', json: true })
l.trace('hidden')
l.debug({ a: 1 }, 'one')
l.info('two')`)
  t.equal(r.out, '')
  const recs = r.err.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
  t.equal(recs.length, 2)
  t.match(recs[0], { level: 20, name: 'mcp-hangar', msg: 'one', a: 1 })
  t.match(recs[1], { level: 30, msg: 'two' })
  t.match(recs[0]!.time, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/)
})

t.test('level silent and silentLogger write nothing', async (t) => {
  const r = await run(`createLogger({ level: 'silent', json: false }).error('x')
createLogger({ level: 'silent', json: true }).fatal('y')
silentLogger().fatal('z')`)
  t.equal(r.code, 0)
  t.equal(r.err, '')
  t.equal(r.out, '')
})
