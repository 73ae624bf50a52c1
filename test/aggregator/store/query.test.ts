// Filtering and paging over the memory window (aggregator/store/query.ts): pure functions,
// table-driven. Oldest-first by default with an `after` cursor; newest-first with `before`.
import t from 'tap'
import { DEFAULT_LIMIT, MAX_LIMIT, normalizeQuery, selectPage, type IndexedSignal, type SignalQuery } from '../../../aggregator/store/query.js'
import type { Signal } from '../../../signals/types.js'
import { signal } from '../../fixtures/aggregator/signals.js'

const NONE = { throughSeq: 0, maxTimeMs: -Infinity }

/** Entries with seq = 10·n (gaps on purpose), alternating providers and kinds. */
function window(count: number, over: (n: number) => Partial<Signal> = () => ({})): IndexedSignal[] {
  const out: IndexedSignal[] = []
  for (let n = 1; n <= count; n++) {
    const s = signal(n, { provider: n % 2 ? 'odd' : 'even', kind: n % 3 ? 'violation' : 'observation', ...over(n) })
    out.push({ seq: n * 10, timeMs: Date.parse(s.time), signal: s })
  }
  return out
}

const page = (entries: IndexedSignal[], q: SignalQuery, head = entries.at(-1)?.seq ?? 0, evicted = NONE) => selectPage(entries, 0, normalizeQuery(q), head, evicted)

t.test('normalizeQuery: defaults, clamping and typed errors', async (t) => {
  const d = normalizeQuery({})
  t.match(d, { provider: null, type: null, sinceMs: null, after: 0, order: 'asc', limit: DEFAULT_LIMIT })
  t.equal(normalizeQuery({ limit: 5000 }).limit, MAX_LIMIT, 'limit clamped to 1000')
  t.equal(normalizeQuery({ since: '2025-01-01T00:00:10.500+01:00' }).sinceMs, Date.parse('2024-12-31T23:00:10.500Z'), 'offset honoured')
  t.same([...normalizeQuery({ type: ['a', 'b'] }).type!], ['a', 'b'])
  const bad: Array<[SignalQuery, string]> = [
    [{ since: 'yesterday' }, 'since'],
    [{ since: '2025-01-01' }, 'since'],
    [{ since: '2025-13-45T99:00:00Z' }, 'since'],
    [{ limit: 0 }, 'limit'],
    [{ limit: 1.5 }, 'limit'],
    [{ after: -1 }, 'after'],
    [{ before: Number.NaN }, 'before'],
    [{ order: 'up' as 'asc' }, 'order'],
    [{ provider: '' }, 'provider'],
  ]
  for (const [q, param] of bad) t.throws(() => normalizeQuery(q), { code: 'HANGAR_QUERY_INVALID', param }, JSON.stringify(q))
})

t.test('filters: provider, type, kind, severity, since, and lists of values', async (t) => {
  const w = window(30, (n) => ({ type: n <= 10 ? 'dns_denied' : 'egress_denied', severity: n === 7 ? 'critical' : 'high' }))
  const seqsOf = (q: SignalQuery) => page(w, { limit: 1000, ...q }).seqs
  t.same(seqsOf({ provider: 'odd', type: 'dns_denied' }), [10, 30, 50, 70, 90])
  t.same(seqsOf({ kind: 'observation', type: 'dns_denied' }), [30, 60, 90])
  t.same(seqsOf({ severity: 'critical' }), [70])
  t.same(seqsOf({ severity: ['critical', 'high'] }).length, 30)
  t.same(seqsOf({ provider: ['odd', 'even'], since: signal(28).time }), [280, 290, 300], 'since is inclusive')
  t.same(seqsOf({ provider: 'nobody' }), [])
})

t.test('ascending pages: next_cursor continues, has_more, and the last page gives a poll cursor', async (t) => {
  const w = window(25)
  const p1 = page(w, { limit: 10 })
  t.same(p1.seqs, [10, 20, 30, 40, 50, 60, 70, 80, 90, 100])
  t.match(p1, { next_cursor: 100, has_more: true, partial: false })
  const p2 = page(w, { limit: 10, after: p1.next_cursor! })
  t.same(p2.seqs[0], 110)
  const p3 = page(w, { limit: 10, after: p2.next_cursor! })
  t.same(p3.seqs, [210, 220, 230, 240, 250])
  t.match(p3, { next_cursor: 250, has_more: false })
  const poll = page(w, { limit: 10, after: 250 })
  t.match(poll, { signals: [], next_cursor: 250, has_more: false }, 'nothing new: the same cursor')
  t.equal(page(w, { after: 0, provider: 'nobody' }).next_cursor, 250, 'a filter matching nothing still moves the cursor to the end')
  t.equal(page([], {}, 42).next_cursor, 42, 'an empty window: the store head')
  t.equal(page(w, { after: 95, limit: 1 }).seqs[0], 100, 'a cursor between sequence numbers')
  t.equal(page(w, { limit: 1, before: 30 }).seqs[0], 10, 'before bounds an ascending page too')
  t.match(page(w, { limit: 2, before: 30 }), { next_cursor: 29, has_more: false })
})

t.test('descending pages with before; null cursor at the bottom', async (t) => {
  const w = window(25)
  const p1 = page(w, { order: 'desc', limit: 10 })
  t.same(p1.seqs.slice(0, 3), [250, 240, 230])
  t.match(p1, { next_cursor: 160, has_more: true })
  const p3 = page(w, { order: 'desc', limit: 10, before: 60 })
  t.same(p3.seqs, [50, 40, 30, 20, 10])
  t.match(p3, { next_cursor: null, has_more: false, partial: false })
  t.same(page(w, { order: 'desc', provider: 'odd', limit: 3 }).seqs, [250, 230, 210])
  t.same(page(w, { order: 'desc', after: 220 }).seqs, [250, 240, 230], 'after bounds a descending page')
})

t.test('paging is stable when signals are appended between pages', async (t) => {
  const w = window(20)
  const seen: number[] = []
  let cursor = 0
  let next = 21
  for (;;) {
    const p = page(w, { limit: 7, after: cursor })
    seen.push(...p.seqs)
    cursor = p.next_cursor!
    // New signals arrive between every two pages.
    for (let k = 0; k < 3 && next <= 40; k++, next++) {
      const s = signal(next)
      w.push({ seq: next * 10, timeMs: Date.parse(s.time), signal: s })
    }
    if (!p.has_more && next > 40) {
      seen.push(...page(w, { limit: 1000, after: cursor }).seqs)
      break
    }
  }
  t.same(seen, Array.from({ length: 40 }, (_, i) => (i + 1) * 10), 'every signal exactly once, in order')
})

t.test('partial: the asked range reaches below the memory window', async (t) => {
  const w = window(10).slice(5) // seqs 60..100 in memory; 10..50 evicted
  const evicted = { throughSeq: 50, maxTimeMs: Date.parse(signal(5).time) }
  t.equal(page(w, {}, 100, evicted).partial, true, 'from the start')
  t.equal(page(w, { after: 50 }, 100, evicted).partial, false, 'after the evicted ones')
  t.equal(page(w, { since: signal(6).time }, 100, evicted).partial, false, 'since newer than anything evicted')
  t.equal(page(w, { since: signal(3).time }, 100, evicted).partial, true, 'since older than an evicted signal')
  t.equal(page(w, { order: 'desc', limit: 2 }, 100, evicted).partial, false, 'newest-first page that does not reach the bottom')
  t.equal(page(w, { order: 'desc' }, 100, evicted).partial, true, 'newest-first page that reaches the bottom')
})
