// The compact dedup set (aggregator/store/id-set.ts): exact-string semantics whatever the storage,
// growth without loss, and the documented memory per id.
import t from 'tap'
import { v7 } from 'uuid'
import { IdSet, uuidWords } from '../../../aggregator/store/id-set.js'
import { idOf } from '../../fixtures/aggregator/signals.js'

t.test('uuidWords: the 128 bits of lowercase canonical UUIDs only', async (t) => {
  t.same(uuidWords('0190a000-0000-7000-8000-00000000002a'), [0x0190a000, 0x00007000, 0x80000000, 0x2a])
  t.same(uuidWords('ffffffff-ffff-ffff-ffff-ffffffffffff'), [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], 'unsigned words')
  for (const id of ['0190A000-0000-7000-8000-00000000002A', '00000000-0000-0000-0000-000000000000', 'sig-1', '0190a00000007000800000000000002a', '0190a000-0000-7000-8000-00000000002g', ' 0190a000-0000-7000-8000-00000000002a']) {
    t.equal(uuidWords(id), null, JSON.stringify(id))
  }
})

t.test('add/has: new → true, again → false; UUIDs and other strings alike, case-sensitive', async (t) => {
  const s = new IdSet()
  const ids = [idOf(1), v7(), 'not-a-uuid', '0190A000-0000-7000-8000-000000000001', '00000000-0000-0000-0000-000000000000']
  for (const id of ids) {
    t.equal(s.has(id), false, `${id} not there yet`)
    t.equal(s.add(id), true, `${id} added`)
    t.equal(s.has(id), true, `${id} there`)
    t.equal(s.add(id), false, `${id} again is a duplicate`)
  }
  t.equal(s.size, ids.length)
  t.equal(s.has(idOf(2)), false)
  t.equal(s.has('0190a000-0000-7000-8000-000000000001'.toUpperCase()), true, 'the upper-case string was added as its own id')
})

t.test('grows past many doublings without losing an id; ≤ 46 bytes per id', async (t) => {
  const s = new IdSet()
  const n = 200_000
  const random: string[] = []
  let refused = 0
  for (let i = 0; i < n; i++) {
    if (!s.add(idOf(i))) refused++
    if (i % 10 === 0) random.push(v7())
  }
  t.equal(refused, 0, 'no new id reported as a duplicate')
  for (const id of random) s.add(id)
  t.equal(s.size, n + random.length)
  let missing = 0
  for (let i = 0; i < n; i++) if (!s.has(idOf(i))) missing++
  for (const id of random) if (!s.has(id)) missing++
  t.equal(missing, 0, 'every id found after growth')
  let false_ = 0
  for (let i = n; i < n + 10_000; i++) if (s.has(idOf(i))) false_++
  t.equal(false_, 0, 'no false positives')
  t.ok(s.tableBytes / s.size <= 46, `table bytes per id ${(s.tableBytes / s.size).toFixed(1)}`)
  const sized = new IdSet(1_000_000)
  t.ok(sized.tableBytes >= (1_000_000 / 0.7) * 16, 'an expected size is allocated up front')
})
