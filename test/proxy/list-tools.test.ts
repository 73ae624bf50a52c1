/**
 * listAllTools (proxy/list-tools.ts): every page of tools/list until `nextCursor` is absent, the
 * cursor passed along, non-array `tools` skipped, and at most MAX_TOOL_PAGES pages from a
 * provider that never stops returning cursors.
 */
import t from 'tap'
import { listAllTools, MAX_TOOL_PAGES } from '../../proxy/list-tools.js'

t.test('walks the pages in order, passing each cursor', async (t) => {
  const cursors: Array<string | undefined> = []
  const pages: Record<string, Record<string, unknown>> = {
    start: { tools: [{ name: 'a' }, { name: 'b' }], nextCursor: 'p2' },
    p2: { tools: [{ name: 'c' }], nextCursor: 'p3' },
    p3: { tools: [{ name: 'd' }] },
  }
  const tools = await listAllTools(async (c) => {
    cursors.push(c)
    return pages[c ?? 'start']!
  })
  t.same(tools, [{ name: 'a' }, { name: 'b' }, { name: 'c' }, { name: 'd' }])
  t.same(cursors, [undefined, 'p2', 'p3'])
})

t.test('an empty result ends the walk; a non-array tools is skipped but its cursor followed; a non-string cursor ends it', async (t) => {
  t.same(await listAllTools(async () => ({})), [])
  let n = 0
  const r = await listAllTools(async () => (n++ === 0 ? { tools: 'nope', nextCursor: 'x' } : { tools: [{ name: 'z' }], nextCursor: 5 }))
  t.same(r, [{ name: 'z' }])
  t.equal(n, 2)
})

t.test(`a provider that always returns a cursor is read for ${MAX_TOOL_PAGES} pages, no more`, async (t) => {
  let calls = 0
  const tools = await listAllTools(async () => ({ tools: [{ name: `t${calls++}` }], nextCursor: 'again' }))
  t.equal(calls, MAX_TOOL_PAGES)
  t.equal(tools.length, MAX_TOOL_PAGES)
})

t.test('an error from a page propagates', async (t) => {
  await t.rejects(listAllTools(async (c) => {
    if (c) throw new Error('provider gone')
    return { tools: [], nextCursor: 'x' }
  }), { message: 'provider gone' })
})
