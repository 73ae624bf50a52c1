/**
 * The cooldowns of the deviation detector (enterprise/behavioral/cooldown.ts): per class and key,
 * the first occurrence signalled and the repeats rolled up; per class, a budget of distinct keys
 * per period; bounded memory.
 */
import t from 'tap'
import { Cooldowns, MAX_OPEN } from '../../../enterprise/behavioral/cooldown.js'

t.test('one signal per key per cooldown; the repeats in a roll-up with the largest observed figure', async (t) => {
  const c = new Cooldowns(1000, 10)
  t.equal(c.hit('call_rate', 'calls', 0, 13, 4).outcome, 'signal')
  t.equal(c.hit('call_rate', 'calls', 100, 40, 4).outcome, 'suppressed')
  t.equal(c.hit('call_rate', 'calls', 200, 20, 4).outcome, 'suppressed')
  t.equal(c.hit('new_tool', 'calls', 200).outcome, 'signal', 'the same key of another class is its own cooldown')
  t.same(c.sweep(999), [], 'nothing due before the end')
  const [r, ...rest] = c.sweep(1000)
  t.same(rest, [], 'new_tool had no repeats: no roll-up')
  t.match(r, { cls: 'call_rate', key: 'calls', suppressed: 2, observed: 40, baseline: 4, opened: 0, until: 1000, last: 200 })
  t.equal(c.size, 1, 'new_tool\'s cooldown (opened at 200) is still open')
  t.same(c.sweep(1200), [])
  t.equal(c.size, 0, 'ended cooldowns are forgotten')
})

t.test('an occurrence after an unswept expired cooldown hands over its roll-up first', async (t) => {
  const c = new Cooldowns(1000, 10)
  c.hit('new_destination', 'a|443', 0)
  c.hit('new_destination', 'a|443', 10)
  const h = c.hit('new_destination', 'a|443', 1500)
  t.equal(h.outcome, 'signal')
  t.match(h.ended, { suppressed: 1, key: 'a|443' })
  t.same(c.sweep(1600), [], 'and it is not swept again')
})

t.test('per class, at most maxPerCooldown distinct keys are signalled per period; the rest fold into the class roll-up', async (t) => {
  const c = new Cooldowns(1000, 3)
  const out = Array.from({ length: 8 }, (_, i) => c.hit('new_dns_name', `n${i}`, i).outcome)
  t.same(out, ['signal', 'signal', 'signal', 'suppressed', 'suppressed', 'suppressed', 'suppressed', 'suppressed'])
  t.equal(c.hit('new_tool', 'x', 9).outcome, 'signal', 'another class has its own budget')
  const rolled = c.sweep(1000).find((x) => x.key === '*')
  t.match(rolled, { cls: 'new_dns_name', keys: 5, suppressed: 5 })
  t.equal(c.hit('new_dns_name', 'n9', 1001).outcome, 'signal', 'a new period, a new budget')
})

t.test('cooldown 0: every occurrence is signalled, nothing is kept', async (t) => {
  const c = new Cooldowns(0, 1)
  for (let i = 0; i < 5; i++) t.equal(c.hit('new_dns_name', `n${i}`, i).outcome, 'signal')
  t.equal(c.size, 0)
})

t.test('memory is bounded: past MAX_OPEN open keys, new keys fold into the class roll-up', async (t) => {
  const c = new Cooldowns(1000, 1_000_000)
  for (let i = 0; i < MAX_OPEN + 100; i++) c.hit('new_dns_name', `n${i}`, 0)
  t.ok(c.size <= MAX_OPEN + 1, `${c.size} open cooldowns`)
  const rolled = c.sweep(1000, true).find((x) => x.key === '*')
  t.equal(rolled?.keys, 100)
})
