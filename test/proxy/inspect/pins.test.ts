// Tool-definition pins (proxy/inspect/pins.ts; DESIGN.md §5 "pinned on first sight (or from the
// profile)"): the persistence round trip, atomic writes, a corrupt file, profile pins winning,
// approvals over a profile pin for one run only.
import t from 'tap'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PINS_FILE, PinStore, parsePinsFile } from '../../../proxy/inspect/pins.js'
import { recordingLogger, tempDir } from './harness.js'

const D = (c: string): string => `sha256:${c.repeat(64)}`
const F = { description: '0123456789abcdef', inputSchema: 'fedcba9876543210', annotations: '00000000ffffffff' }

t.test('learnt pins and approvals survive a new store on the same dir', async (t) => {
  const dir = tempDir(t)
  const { log } = recordingLogger()
  const a = new PinStore({ dataDir: dir, log })
  t.equal(a.pinOf('x'), undefined, 'no pins in an empty dir')
  a.learn('x', { digest: D('a'), fields: F })
  a.learn('x', { digest: D('b') })
  a.learn('__proto__', { digest: D('c') })
  a.approveUndeclared('extra')
  await a.flush()
  t.same(a.pinOf('x'), { digest: D('a'), source: 'learned', fields: F }, 'a second learn does not replace a pin')
  const text = readFileSync(join(dir, PINS_FILE), 'utf8')
  t.same(JSON.parse(text).version, 1)
  t.same(readdirSync(dir), [PINS_FILE], 'no temp file left behind')

  const b = new PinStore({ dataDir: dir, log })
  t.same(b.pinOf('x'), { digest: D('a'), source: 'learned', fields: F }, 'pin with field digests restored')
  t.same(b.pinOf('__proto__'), { digest: D('c'), source: 'learned' }, 'a tool named __proto__ is plain data')
  t.ok(b.isUndeclaredApproved('extra'), 'undeclared approval restored')
  t.same(Object.entries(b.snapshot()), [['__proto__', D('c')], ['x', D('a')]], 'snapshot holds both as own data')
  t.equal(Object.getPrototypeOf(b.snapshot()), Object.prototype, 'snapshot prototype untouched')
})

t.test('profile pins win over learnt pins; a differing first sight is not learnt', async (t) => {
  const dir = tempDir(t)
  const { log } = recordingLogger()
  const a = new PinStore({ dataDir: dir, log })
  a.learn('x', { digest: D('a') })
  await a.flush()
  const b = new PinStore({ dataDir: dir, log, profilePins: { x: D('b'), y: D('c') } })
  t.same(b.pinOf('x'), { digest: D('b'), source: 'profile' }, 'the profile wins over the file')
  b.learn('y', { digest: D('d'), fields: F })
  t.same(b.pinOf('y'), { digest: D('c'), source: 'profile' }, 'a definition differing from the profile pin is not learnt')
  b.learn('y', { digest: D('c'), fields: F })
  t.same(b.pinOf('y'), { digest: D('c'), source: 'profile', fields: F }, 'a matching one records its field digests')
})

t.test('approve over a profile pin overrides it for this run only', async (t) => {
  const dir = tempDir(t)
  const { log } = recordingLogger()
  const a = new PinStore({ dataDir: dir, log, profilePins: { x: D('a') } })
  t.equal(a.approve('x', { digest: D('b'), fields: F }), true, 'reported as overriding the profile')
  t.same(a.pinOf('x'), { digest: D('b'), source: 'approved', fields: F })
  t.equal(a.approve('x', { digest: D('a') }), false, 'approving the profile digest is no override')
  t.same(a.pinOf('x'), { digest: D('a'), source: 'profile' })
  a.approve('x', { digest: D('b') })
  await a.flush()
  const b = new PinStore({ dataDir: dir, log, profilePins: { x: D('a') } })
  t.same(b.pinOf('x'), { digest: D('a'), source: 'profile' }, 'after a restart the profile is the truth again')
  const c = new PinStore({ dataDir: dir, log })
  t.same(c.pinOf('x'), { digest: D('b'), source: 'learned' }, 'without the profile pin, the approval holds')
})

t.test('a corrupt file is logged, moved aside and treated as empty; the next write replaces it', async (t) => {
  const cases = [
    { case: 'not JSON', text: '{"version":1,"tools":{' },
    { case: 'wrong version', text: '{"version":2,"tools":{}}' },
    { case: 'bad digest', text: '{"version":1,"tools":{"x":{"digest":"md5:00"}}}' },
    { case: 'bad fields', text: `{"version":1,"tools":{"x":{"digest":"${D('a')}","fields":{"description":"zz"}}}}` },
    { case: 'array', text: '[]' },
    { case: 'bad approvals', text: '{"version":1,"tools":{},"undeclared_approved":"x"}' },
  ]
  for (const c of cases) {
    const dir = tempDir(t)
    writeFileSync(join(dir, PINS_FILE), c.text)
    const { log, lines } = recordingLogger()
    const s = new PinStore({ dataDir: dir, log })
    t.same(s.snapshot(), {}, `${c.case}: empty`)
    t.ok(lines.some((l) => l.level === 50 && /corrupt/.test(String(l.msg))), `${c.case}: logged as an error`)
    t.equal(readFileSync(join(dir, `${PINS_FILE}.corrupt`), 'utf8'), c.text, `${c.case}: kept aside for inspection`)
    s.learn('y', { digest: D('e') })
    await s.flush()
    t.same(new PinStore({ dataDir: dir, log }).snapshot(), { y: D('e') }, `${c.case}: a fresh file is written`)
  }
})

t.test('parsePinsFile reads own keys only and validates every entry', async (t) => {
  const ok = parsePinsFile(`{"version":1,"tools":{"__proto__":{"digest":"${D('a')}"},"b":{"digest":"${D('b')}","fields":${JSON.stringify(F)}}}}`)
  t.same(ok, { tools: [['__proto__', { digest: D('a') }], ['b', { digest: D('b'), fields: F }]], undeclared: [] })
  t.type(parsePinsFile('null'), 'string')
  t.type(parsePinsFile('{"version":1}'), 'string')
})

t.test('writes are coalesced, and a data dir that does not exist yet is created', async (t) => {
  const dir = join(tempDir(t), 'nested', 'provider')
  const { log } = recordingLogger()
  const s = new PinStore({ dataDir: dir, log })
  for (let i = 0; i < 50; i++) s.learn(`t${i}`, { digest: D((i % 10).toString()) })
  await s.flush()
  t.ok(existsSync(join(dir, PINS_FILE)))
  t.equal(Object.keys(new PinStore({ dataDir: dir, log }).snapshot()).length, 50, 'every pin on disk after flush')
})

t.test('a write failure is logged, not thrown; pins stay in memory', async (t) => {
  const parent = tempDir(t)
  const blocker = join(parent, 'file')
  writeFileSync(blocker, 'not a dir')
  const { log, lines } = recordingLogger()
  const s = new PinStore({ dataDir: join(blocker, 'sub'), log })
  s.learn('x', { digest: D('a') })
  await s.flush()
  t.equal(s.pinOf('x')?.digest, D('a'))
  t.ok(lines.some((l) => l.level === 50 && /could not be written/.test(String(l.msg))), 'logged')
})
