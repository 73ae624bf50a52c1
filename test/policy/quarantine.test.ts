/** The quarantine switch (policy/quarantine.ts): on/off, idempotent, one `change` event per real switch. */
import t from 'tap'
import { QuarantineSwitch, type QuarantineChange } from '../../policy/quarantine.js'

t.test('quarantine then release: the state and one change event each, with reason and who', async (t) => {
  const q = new QuarantineSwitch()
  const seen: QuarantineChange[] = []
  q.on('change', (c) => seen.push(c))
  t.same(q.state, { quarantined: false })
  t.equal(q.quarantine('drift on fetch_html', 'violation'), true)
  t.same(q.state, { quarantined: true, quarantineReason: 'drift on fetch_html' })
  t.equal(q.release('approved', 'api'), true)
  t.same(q.state, { quarantined: false }, 'the reason is gone with the quarantine')
  t.same(seen, [{ quarantined: true, reason: 'drift on fetch_html', by: 'violation' }, { quarantined: false, reason: 'approved', by: 'api' }])
})

t.test('a second quarantine or release changes nothing and emits nothing (the first reason stays)', async (t) => {
  const q = new QuarantineSwitch()
  let events = 0
  q.on('change', () => events++)
  t.equal(q.release('nothing to release', 'api'), false, 'release while not quarantined')
  t.equal(q.quarantine('first', 'aggregator'), true)
  t.equal(q.quarantine('second', 'violation'), false)
  t.equal(q.state.quarantineReason, 'first')
  t.equal(events, 1)
})

t.test('the state object is the one decisions hold: a switch is visible through a reference taken before', async (t) => {
  const q = new QuarantineSwitch()
  const held = q.state
  q.quarantine('x', 'config')
  t.equal(held.quarantined, true)
})
