// The provider lifecycle table (proxy/lifecycle/state.ts; DESIGN.md §5):
// COLD → INITIALIZING → READY ⇄ DEGRADED → DEAD, every legal transition and every illegal one.
import t from 'tap'
import { hasProcess, isServing, LIFECYCLE_STATES, transition, type LifecycleEvent, type LifecycleState } from '../../../proxy/lifecycle/state.js'

const E = {
  start: { type: 'start' },
  restart: { type: 'restart' },
  initialized: { type: 'initialized' },
  start_failed: { type: 'start_failed' },
  health_ok: { type: 'health_ok' },
  health_failed_1of3: { type: 'health_failed', consecutive: 1, max: 3 },
  health_failed_3of3: { type: 'health_failed', consecutive: 3, max: 3 },
  health_failed_4of3: { type: 'health_failed', consecutive: 4, max: 3 },
  exited_expected: { type: 'exited', expected: true },
  exited_unexpected: { type: 'exited', expected: false },
  idle_stopped: { type: 'idle_stopped' },
  stopped: { type: 'stopped' },
} satisfies Record<string, LifecycleEvent>
type EventName = keyof typeof E

// The whole table: state × event → next state, or null when illegal.
const TABLE: Record<LifecycleState, Record<EventName, LifecycleState | null>> = {
  COLD: {
    start: 'INITIALIZING', restart: null, initialized: null, start_failed: null, health_ok: null,
    health_failed_1of3: null, health_failed_3of3: null, health_failed_4of3: null,
    exited_expected: null, exited_unexpected: null, idle_stopped: null, stopped: 'COLD',
  },
  INITIALIZING: {
    start: null, restart: null, initialized: 'READY', start_failed: 'DEAD', health_ok: null,
    health_failed_1of3: null, health_failed_3of3: null, health_failed_4of3: null,
    exited_expected: 'COLD', exited_unexpected: 'DEAD', idle_stopped: null, stopped: 'COLD',
  },
  READY: {
    start: null, restart: null, initialized: null, start_failed: null, health_ok: 'READY',
    health_failed_1of3: 'READY', health_failed_3of3: 'DEGRADED', health_failed_4of3: 'DEGRADED',
    exited_expected: 'COLD', exited_unexpected: 'DEAD', idle_stopped: 'COLD', stopped: 'COLD',
  },
  DEGRADED: {
    start: null, restart: null, initialized: null, start_failed: null, health_ok: 'READY',
    health_failed_1of3: 'DEGRADED', health_failed_3of3: 'DEGRADED', health_failed_4of3: 'DEGRADED',
    exited_expected: 'COLD', exited_unexpected: 'DEAD', idle_stopped: 'COLD', stopped: 'COLD',
  },
  DEAD: {
    start: 'INITIALIZING', restart: 'INITIALIZING', initialized: null, start_failed: null, health_ok: null,
    health_failed_1of3: null, health_failed_3of3: null, health_failed_4of3: null,
    exited_expected: null, exited_unexpected: null, idle_stopped: null, stopped: 'COLD',
  },
}

t.test('every state × event gives the table’s next state or an illegal-transition reason', async (t) => {
  for (const from of LIFECYCLE_STATES) {
    for (const [name, event] of Object.entries(E) as Array<[EventName, LifecycleEvent]>) {
      const want = TABLE[from][name]
      const got = transition(from, event)
      if (want === null) {
        t.equal(got.ok, false, `${from} + ${name} is illegal`)
        if (!got.ok) t.match(got.reason, new RegExp(`${event.type} in state ${from}`), `${from} + ${name}: reason names event and state`)
      } else {
        t.same(got, { ok: true, to: want }, `${from} + ${name} → ${want}`)
      }
    }
  }
})

t.test('the happy path and a crash cycle, step by step', async (t) => {
  const steps: Array<[LifecycleEvent, LifecycleState]> = [
    [E.start, 'INITIALIZING'], [E.initialized, 'READY'], [E.health_failed_1of3, 'READY'],
    [E.health_failed_3of3, 'DEGRADED'], [E.health_ok, 'READY'], [E.exited_unexpected, 'DEAD'],
    [E.restart, 'INITIALIZING'], [E.start_failed, 'DEAD'], [E.start, 'INITIALIZING'],
    [E.initialized, 'READY'], [E.idle_stopped, 'COLD'], [E.start, 'INITIALIZING'], [E.stopped, 'COLD'],
  ]
  let s: LifecycleState = 'COLD'
  for (const [e, want] of steps) {
    const r = transition(s, e)
    t.ok(r.ok, `${s} + ${e.type} is legal`)
    if (r.ok) s = r.to
    t.equal(s, want, `${e.type} → ${want}`)
  }
})

t.test('isServing and hasProcess', async (t) => {
  t.same(LIFECYCLE_STATES.filter(isServing), ['READY', 'DEGRADED'])
  t.same(LIFECYCLE_STATES.filter(hasProcess), ['INITIALIZING', 'READY', 'DEGRADED'])
})
