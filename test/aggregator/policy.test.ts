import t from 'tap'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PolicyBook } from '../../aggregator/policy.js'
import { HangarError } from '../../core/errors.js'

t.test('quarantine and approve change the version; a repeated quarantine does not', async (t) => {
  const book = new PolicyBook({ clock: () => new Date('2026-11-22T10:00:00.000Z') })
  t.same(book.get('fetch'), { provider: 'fetch', version: 0, quarantined: false, approvals: 0 })
  const q = book.quarantine('fetch', 'exfiltration attempt', 'api')
  t.equal(q.changed, true)
  t.equal(q.policy.version, 1)
  t.equal(q.policy.quarantined, true)
  t.equal(q.policy.changed_at, '2026-11-22T10:00:00.000Z')
  const again = book.quarantine('fetch', 'another reason', 'mcp')
  t.equal(again.changed, false, 'already quarantined')
  t.equal(again.policy.version, 1)
  t.equal(again.policy.reason, 'exfiltration attempt', 'first reason kept')
  const a = book.approve('fetch', 'reviewed', 'mcp')
  t.equal(a.version, 2)
  t.equal(a.quarantined, false)
  t.equal(a.approvals, 1)
  t.equal(book.approve('fetch', 'drift reviewed', 'api').version, 3, 'an approval without quarantine is still a new version (clears holds)')
  t.same(book.list().map((p) => p.provider), ['fetch'])
  t.equal(book.get('other').version, 0, 'other providers untouched')
})

t.test('long poll: resolves at once when behind, on change when waiting, with the current policy on timeout', async (t) => {
  const book = new PolicyBook()
  book.quarantine('p', 'x', 'api')
  const behind = await book.wait('p', 0, 30_000).promise
  t.equal(behind.version, 1, 'client behind: immediate answer')

  const w = book.wait('p', 1, 30_000)
  t.equal(book.waiting, 1)
  const started = Date.now()
  setTimeout(() => book.approve('p', 'ok', 'api'), 20)
  const changed = await w.promise
  t.equal(changed.version, 2)
  t.ok(Date.now() - started < 5000, 'woken by the change, not the timeout')
  t.equal(book.waiting, 0)

  const timedOut = await book.wait('p', 2, 30).promise
  t.equal(timedOut.version, 2, 'timeout answers with the unchanged policy')
  t.equal(book.waiting, 0, 'timed-out waiter removed')

  const c = book.wait('p', 2, 30_000)
  c.cancel()
  t.equal(book.waiting, 0, 'cancelled waiter removed (client went away)')
  t.equal((await c.promise).version, 2, 'a cancelled wait settles with the current policy')

  const closing = book.wait('p', 2, 30_000)
  book.close()
  t.equal((await closing.promise).version, 2, 'close releases waiters')
})

t.test('persisted: a quarantine survives a restart; a corrupt file is a clear error', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-policy-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'sub', 'policy.json')
  const a = new PolicyBook({ file })
  a.quarantine('fetch', 'bad', 'violation')
  const b = new PolicyBook({ file })
  t.match(b.get('fetch'), { version: 1, quarantined: true, reason: 'bad', by: 'violation' })
  t.match(JSON.parse(readFileSync(file, 'utf8')), { version: 1, providers: { fetch: { quarantined: true } } })

  writeFileSync(file, '{"version":1,"providers":{"fetch":{"version":"x"}}}')
  let err: unknown
  try {
    new PolicyBook({ file })
  } catch (e) {
    err = e
  }
  t.ok(err instanceof HangarError, 'a HangarError')
  t.match((err as Error).message, /policy\.json: not a policy book \(providers\.fetch\.version/, 'names the file and the field')
  writeFileSync(file, '{torn')
  t.throws(() => new PolicyBook({ file }), /not a policy book/)
})
