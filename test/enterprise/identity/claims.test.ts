// enterprise/identity/claims.ts: the caller a verified payload names (subject, groups, extra claims).
import t from 'tap'
import fc from 'fast-check'
import { callerFromPayload, isPrintableName, MAX_CLAIM_CHARS, MAX_CLAIM_ITEMS, MAX_GROUPS, type ClaimRules } from '../../../enterprise/identity/claims.js'

const rules: ClaimRules = { issuer: 'https://idp.test', subjectClaim: 'sub', groupsClaim: 'groups', claims: ['email', 'n', 'flag', 'list', 'obj'] }

t.test('subject: 1-128 printable ASCII, no surrounding spaces; anything else names no caller', async (t) => {
  t.same(callerFromPayload({ sub: 'a b@c' }, rules), { ok: true, caller: { subject: 'a b@c', issuer: 'https://idp.test', groups: [], claims: {} } })
  for (const sub of ['', ' pad', 'pad ', 'tab\there', 'é', 'x'.repeat(129), 42, null, ['a'], undefined]) {
    const r = callerFromPayload({ sub }, rules)
    t.equal(r.ok, false, JSON.stringify(sub))
    if (!r.ok) t.match(r.description, /the sub claim must be 1-128 printable ASCII characters/)
  }
  t.ok(callerFromPayload({ sub: 'x'.repeat(128) }, rules).ok, 'control: 128 characters')
})

t.test('groups: a string or a list of names, deduplicated; never truncated', async (t) => {
  const g = (groups: unknown) => callerFromPayload({ sub: 's', groups }, rules)
  const groupsOf = (v: unknown) => {
    const r = g(v)
    return r.ok ? r.caller.groups : undefined
  }
  t.same(groupsOf('one'), ['one'])
  t.same(groupsOf(['b', 'a', 'b']), ['b', 'a'])
  t.equal(g(Array.from({ length: MAX_GROUPS }, (_, i) => `g${i}`)).ok, true, `${MAX_GROUPS} groups`)
  for (const bad of [Array.from({ length: MAX_GROUPS + 1 }, (_, i) => `g${i}`), [1], ['ok', ''], ['new\nline'], { a: 1 }, 7, true]) {
    const r = g(bad)
    t.equal(r.ok, false, `refused: ${JSON.stringify(bad).slice(0, 40)}`)
  }
})

t.test('extra claims: scalars as strings, lists bounded, objects left out', async (t) => {
  const r = callerFromPayload({ sub: 's', email: 'e'.repeat(MAX_CLAIM_CHARS + 10), n: 3, flag: false, list: ['a', 2, { x: 1 }, ...Array.from({ length: 30 }, () => 'z')], obj: { deep: 1 }, other: 'not configured' }, rules)
  t.ok(r.ok)
  if (!r.ok) return
  t.equal((r.caller.claims.email as string).length, MAX_CLAIM_CHARS)
  t.equal(r.caller.claims.n, '3')
  t.equal(r.caller.claims.flag, 'false')
  t.equal((r.caller.claims.list as string[]).length, MAX_CLAIM_ITEMS)
  t.same((r.caller.claims.list as string[]).slice(0, 3), ['a', '2', 'z'])
  t.notOk('obj' in r.caller.claims, 'an object claim is left out')
  t.notOk('other' in r.caller.claims, 'only configured claims')
})

t.test('property: any accepted subject is printable, bounded and trimmed', async (t) => {
  t.doesNotThrow(() => fc.assert(fc.property(fc.string({ maxLength: 200, unit: 'binary' }), (s) => {
    const r = callerFromPayload({ sub: s }, rules)
    return !r.ok || (isPrintableName(r.caller.subject) && r.caller.subject === s && s.trim() === s && s.length <= 128)
  }), { numRuns: 2000 }))
})
