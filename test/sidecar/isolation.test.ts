/** sidecar/isolation.ts: the isolation probe, the signal marking and the argv that runs a provider in its namespace. */
import t from 'tap'
import { buildSignal } from '../../signals/build.js'
import { MemorySink } from '../../signals/sink.js'
import { detectIsolation, IsolationMarkingSink, netnsWrap } from '../../sidecar/isolation.js'

t.test('a non-root uid is cooperative, and says why', async (t) => {
  const r = detectIsolation(1000)
  t.equal(r.mode, 'cooperative')
  t.match(r, { why: /not running as root/ })
})

t.test('every signal passed on is marked; flush and close reach the inner sink', async (t) => {
  const inner = new MemorySink()
  let flushed = 0
  let closed = 0
  const spy = Object.assign(Object.create(inner) as MemorySink, {
    emit: (s: Parameters<MemorySink['emit']>[0]) => inner.emit(s),
    flush: async () => { flushed++ },
    close: async () => { closed++ },
  })
  const sink = new IsolationMarkingSink(spy, 'netns')
  for (const type of ['sidecar_started', 'egress_denied'] as const) {
    sink.emit(buildSignal({ provider: 'p', sidecar_id: 'p-1' }, { kind: type === 'sidecar_started' ? 'lifecycle' : 'violation', type, action: type === 'sidecar_started' ? 'allowed' : 'blocked', enforcement_mode: 'block', reason: 'x' }))
  }
  t.same(inner.signals.map((s) => s.isolation), ['netns', 'netns'])
  await sink.flush()
  await sink.close()
  t.same([flushed, closed], [1, 1])
})

t.test('netnsWrap: into the namespace as the user, no capabilities, no_new_privs', async (t) => {
  const argv = netnsWrap('hg-0123abcd', '65534:65534')
  t.same(argv.slice(0, 5), ['ip', 'netns', 'exec', 'hg-0123abcd', 'setpriv'])
  t.ok(argv.includes('--reuid=65534') && argv.includes('--regid=65534') && argv.includes('--clear-groups'), 'uid and gid given, supplementary groups cleared')
  for (const flag of ['--no-new-privs', '--inh-caps=-all', '--bounding-set=-all']) t.ok(argv.includes(flag), flag)
  t.equal(argv.at(-1), '--', 'ends where the provider command begins')
  const byName = netnsWrap('hg-0123abcd', 'root')
  t.ok(byName.includes('--init-groups') && byName.includes('--regid=0'), "a user alone: the user's primary group and its groups")
})
