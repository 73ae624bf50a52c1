// The tool policy (policy/tool-policy.ts; `capabilities.tools`, docs/mcp-ingress.md §Inspection): globs over MCP
// tool names (`*` any run, `?` one character, everything else literal, case-sensitive), deny wins
// over allow, an empty allow list allows all, and `expected_tools` yields undeclared tools.
import t from 'tap'
import fc from 'fast-check'
import { ERROR_CODES, HangarError } from '../../core/errors.js'
import { capabilitiesSchema, type ToolRuleConfig } from '../../policy/capabilities.js'
import {
  compileCallers, compileToolGlob, compileToolPolicy, decideTool, filterToolsList, matchToolGlob, ruleGlob, ruleText, undeclaredTools,
  type ToolCaller, type ToolDecision,
} from '../../policy/tool-policy.js'

t.test('glob matching: wildcards, literals, regex metacharacters, case', async (t) => {
  const cases: Array<{ case: string; glob: string; name: string; match: boolean }> = [
    { case: 'exact', glob: 'fetch_html', name: 'fetch_html', match: true },
    { case: 'exact, other name', glob: 'fetch_html', name: 'fetch_htm', match: false },
    { case: 'exact is anchored at the end', glob: 'fetch', name: 'fetch_html', match: false },
    { case: 'exact is anchored at the start', glob: 'html', name: 'fetch_html', match: false },
    { case: 'prefix star', glob: 'fetch_*', name: 'fetch_html', match: true },
    { case: 'star matches the empty run', glob: 'fetch_*', name: 'fetch_', match: true },
    { case: 'prefix star, other prefix', glob: 'fetch_*', name: 'refetch_html', match: false },
    { case: 'infix', glob: '*delete*', name: 'repo_delete_branch', match: true },
    { case: 'infix at the start', glob: '*delete*', name: 'delete', match: true },
    { case: 'infix absent', glob: '*delete*', name: 'repo_remove', match: false },
    { case: 'bare star matches all', glob: '*', name: 'anything.at-all', match: true },
    { case: 'bare star matches the empty name', glob: '*', name: '', match: true },
    { case: 'runs of stars collapse', glob: 'a**b', name: 'axxb', match: true },
    { case: 'star backtracks', glob: '*ab', name: 'aab', match: true },
    { case: 'star backtracks over repeats', glob: '*a*b', name: 'xaxaxb', match: true },
    { case: 'star then no suffix', glob: '*a*b', name: 'xaxax', match: false },
    { case: 'question mark is one character', glob: 'get_?', name: 'get_x', match: true },
    { case: 'question mark is exactly one', glob: 'get_?', name: 'get_', match: false },
    { case: 'question mark is not two', glob: 'get_?', name: 'get_xy', match: false },
    { case: 'question mark is one code point', glob: 'emoji_?', name: 'emoji_😀', match: true },
    { case: 'dot is literal', glob: 'a.b', name: 'a.b', match: true },
    { case: 'dot is not any character', glob: 'a.b', name: 'axb', match: false },
    { case: 'plus is literal', glob: 'a+b', name: 'a+b', match: true },
    { case: 'plus is not repetition', glob: 'a+b', name: 'aab', match: false },
    { case: 'parentheses are literal', glob: '(x)', name: '(x)', match: true },
    { case: 'parentheses are not a group', glob: '(x)', name: 'x', match: false },
    { case: 'brackets are literal', glob: '[ab]', name: 'a', match: false },
    { case: 'brackets match themselves', glob: '[ab]', name: '[ab]', match: true },
    { case: 'alternation is literal', glob: 'a|b', name: 'a', match: false },
    { case: 'anchors are literal', glob: '^a$', name: 'a', match: false },
    { case: 'anchors match themselves', glob: '^a$', name: '^a$', match: true },
    { case: 'backslash is literal, not an escape', glob: 'a\\*', name: 'a\\xyz', match: true },
    { case: 'backslash does not escape star', glob: 'a\\*', name: 'a*', match: false },
    { case: 'regex quantifier braces are literal', glob: 'a{2}', name: 'aa', match: false },
    { case: 'dot star is literal dot then wildcard', glob: '.*', name: 'xyz', match: false },
    { case: 'dot star matches a leading dot', glob: '.*', name: '.hidden', match: true },
    { case: 'metacharacters with wildcard', glob: 'ns.(v1)+*', name: 'ns.(v1)+tool', match: true },
    { case: 'case-sensitive literal', glob: 'Fetch_html', name: 'fetch_html', match: false },
    { case: 'case-sensitive with star', glob: 'FETCH_*', name: 'fetch_html', match: false },
    { case: 'case-sensitive infix', glob: '*Delete*', name: 'repo_delete', match: false },
    { case: 'newline is not skipped', glob: 'a*', name: 'a\nb', match: true },
    { case: 'literal does not match with trailing newline', glob: 'a', name: 'a\n', match: false },
  ]
  for (const c of cases) {
    t.equal(matchToolGlob(compileToolGlob(c.glob, 'tools.allow_list[0]'), c.name), c.match, `${c.case}: ${JSON.stringify(c.glob)} vs ${JSON.stringify(c.name)}`)
  }
})

t.test('glob matching stays fast on adversarial names (no backtracking blow-up)', async (t) => {
  const g = compileToolGlob('*a*a*a*a*a*a*a*b', 'tools.deny_list[0]')
  const name = 'a'.repeat(20000)
  const start = process.hrtime.bigint()
  t.equal(matchToolGlob(g, name), false)
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  t.ok(ms < 2000, `took ${ms.toFixed(1)} ms`)
})

t.test('an empty glob is HANGAR_GLOB_INVALID naming the entry', async (t) => {
  const cases: Array<{ case: string; tools: { allow_list?: string[]; deny_list?: string[] }; path: string }> = [
    { case: 'empty allow entry', tools: { allow_list: ['fetch_*', ''] }, path: 'tools.allow_list[1]' },
    { case: 'empty deny entry', tools: { deny_list: [''] }, path: 'tools.deny_list[0]' },
  ]
  for (const c of cases) {
    let err: unknown
    try {
      compileToolPolicy(c.tools)
    } catch (e) {
      err = e
    }
    t.type(err, HangarError, `${c.case}: throws HangarError`)
    t.match(err, { code: ERROR_CODES.GLOB_INVALID }, `${c.case}: code`)
    t.ok((err as Error).message.startsWith(`${c.path}: `), `${c.case}: message names ${c.path}`)
  }
})

t.test('decideTool: deny beats allow, empty allow list allows all, rules name the entry', async (t) => {
  const design = compileToolPolicy({ allow_list: ['fetch_*'], deny_list: ['*delete*'] })
  const open = compileToolPolicy({})
  const denyOnly = compileToolPolicy({ deny_list: ['exec', 'shell_*'] })
  const multi = compileToolPolicy({ allow_list: ['read_*', 'list_*', 'read_file'], deny_list: ['*secret*', 'read_*'] })
  const cases: Array<{ case: string; policy: ReturnType<typeof compileToolPolicy>; name: string; verdict: ToolDecision['verdict']; rule: ToolDecision['rule'] }> = [
    { case: 'allowed by the allow list', policy: design, name: 'fetch_html', verdict: 'allow', rule: 'tools.allow_list[0]' },
    { case: 'deny beats allow', policy: design, name: 'fetch_delete_cache', verdict: 'deny', rule: 'tools.deny_list[0]' },
    { case: 'denied without an allow match', policy: design, name: 'delete_repo', verdict: 'deny', rule: 'tools.deny_list[0]' },
    { case: 'not in the allow list', policy: design, name: 'run_shell', verdict: 'deny', rule: 'not-in-allow_list' },
    { case: 'allow list is case-sensitive', policy: design, name: 'FETCH_html', verdict: 'deny', rule: 'not-in-allow_list' },
    { case: 'deny list is case-sensitive', policy: design, name: 'fetch_DELETE', verdict: 'allow', rule: 'tools.allow_list[0]' },
    { case: 'empty lists allow all', policy: open, name: 'anything', verdict: 'allow', rule: 'default-allow' },
    { case: 'empty allow list, deny miss', policy: denyOnly, name: 'read_file', verdict: 'allow', rule: 'default-allow' },
    { case: 'empty allow list, deny hit', policy: denyOnly, name: 'shell_run', verdict: 'deny', rule: 'tools.deny_list[1]' },
    { case: 'deny exact is anchored', policy: denyOnly, name: 'exec_sql', verdict: 'allow', rule: 'default-allow' },
    { case: 'first matching deny entry is named', policy: multi, name: 'read_secret', verdict: 'deny', rule: 'tools.deny_list[0]' },
    { case: 'deny of an allowed exact name', policy: multi, name: 'read_file', verdict: 'deny', rule: 'tools.deny_list[1]' },
    { case: 'first matching allow entry is named', policy: multi, name: 'list_dir', verdict: 'allow', rule: 'tools.allow_list[1]' },
  ]
  for (const c of cases) {
    const d = decideTool(c.name, c.policy)
    t.equal(d.verdict, c.verdict, `${c.case}: verdict`)
    t.equal(d.rule, c.rule, `${c.case}: rule`)
    t.ok(d.reason.includes(JSON.stringify(c.name)), `${c.case}: reason names the tool`)
  }
})

t.test('the policy compiles from the parsed capabilities block (schema defaults)', async (t) => {
  const cases: Array<{ case: string; tools: unknown; name: string; verdict: ToolDecision['verdict'] }> = [
    { case: 'defaults: all allowed', tools: undefined, name: 'x', verdict: 'allow' },
    { case: 'configuration example: allowed', tools: { allow_list: ['fetch_*'], deny_list: ['*delete*'] }, name: 'fetch_markdown', verdict: 'allow' },
    { case: 'configuration example: denied', tools: { allow_list: ['fetch_*'], deny_list: ['*delete*'] }, name: 'fetch_delete', verdict: 'deny' },
  ]
  for (const c of cases) {
    const caps = capabilitiesSchema.parse(c.tools === undefined ? {} : { tools: c.tools })
    t.equal(decideTool(c.name, compileToolPolicy(caps.tools)).verdict, c.verdict, c.case)
  }
})

t.test('filterToolsList keeps order, returns the same objects, explains removals', async (t) => {
  const policy = compileToolPolicy({ allow_list: ['fetch_*'], deny_list: ['*delete*'] })
  const tools = [
    { name: 'fetch_html', description: 'a' },
    { name: 'run_shell', description: 'b' },
    { name: 'fetch_markdown', description: 'c' },
    { name: 'fetch_delete', description: 'd' },
  ]
  const before = JSON.stringify(tools)
  const { kept, removed } = filterToolsList(tools, policy)
  t.strictSame(kept.map((x) => x.name), ['fetch_html', 'fetch_markdown'])
  t.equal(kept[0], tools[0], 'kept entries are the given objects')
  t.strictSame(removed.map((r) => [r.tool.name, r.decision.rule]), [['run_shell', 'not-in-allow_list'], ['fetch_delete', 'tools.deny_list[0]']])
  t.equal(removed[0]?.tool, tools[1], 'removed entries are the given objects')
  t.equal(JSON.stringify(tools), before, 'input not modified')

  const cases: Array<{ case: string; names: string[]; kept: string[]; removed: string[] }> = [
    { case: 'empty list', names: [], kept: [], removed: [] },
    { case: 'all kept', names: ['fetch_a', 'fetch_b'], kept: ['fetch_a', 'fetch_b'], removed: [] },
    { case: 'all removed', names: ['x', 'delete'], kept: [], removed: ['x', 'delete'] },
    { case: 'duplicates decided each', names: ['fetch_a', 'fetch_a'], kept: ['fetch_a', 'fetch_a'], removed: [] },
  ]
  for (const c of cases) {
    const r = filterToolsList(c.names.map((name) => ({ name })), policy)
    t.strictSame(r.kept.map((x) => x.name), c.kept, `${c.case}: kept`)
    t.strictSame(r.removed.map((x) => x.tool.name), c.removed, `${c.case}: removed`)
  }
})

t.test('undeclaredTools: exact, case-sensitive, once each, in order', async (t) => {
  const cases: Array<{ case: string; names: string[]; expected: string[] | undefined; out: string[] }> = [
    { case: 'expected_tools undefined: none undeclared', names: ['a', 'b'], expected: undefined, out: [] },
    { case: 'all declared', names: ['fetch_html', 'fetch_markdown'], expected: ['fetch_html', 'fetch_markdown'], out: [] },
    { case: 'one undeclared', names: ['fetch_html', 'run_shell'], expected: ['fetch_html', 'fetch_markdown'], out: ['run_shell'] },
    { case: 'empty expected: all undeclared', names: ['a', 'b'], expected: [], out: ['a', 'b'] },
    { case: 'case-sensitive', names: ['Fetch_html'], expected: ['fetch_html'], out: ['Fetch_html'] },
    { case: 'not a glob', names: ['fetch_html'], expected: ['fetch_*'], out: ['fetch_html'] },
    { case: 'deduplicated, first-seen order', names: ['z', 'a', 'z', 'a'], expected: [], out: ['z', 'a'] },
    { case: 'prototype names are plain names', names: ['constructor', '__proto__'], expected: ['x'], out: ['constructor', '__proto__'] },
    { case: 'no names', names: [], expected: ['a'], out: [] },
  ]
  for (const c of cases) t.strictSame(undeclaredTools(c.names, c.expected), c.out, c.case)
})

// ---- Caller-scoped rules ------------------------------------------------------------------------

const admin: ToolCaller = { verified: true, subject: 'ann', groups: ['admins'] }
const dev: ToolCaller = { verified: true, subject: 'dan', groups: ['dev'] }
const bob: ToolCaller = { verified: true, subject: 'bob', groups: [] }
const contractor: ToolCaller = { verified: true, subject: 'cid', groups: ['contractors', 'admins'] }
/** What a client can claim without a verified token: the names are never compared. */
const spoofed: ToolCaller = { verified: false, subject: 'ann', groups: ['admins'] }

t.test('scoped allow: only a verified caller it names; scoped deny: the callers it names and every unverified caller', async (t) => {
  const policy = compileToolPolicy({
    allow_list: ['read_*', { tool: 'write_*', callers: ['group:admins', 'user:bob'] }, { tool: 'stats', callers: ['*'] }],
    deny_list: [{ tool: 'write_prod*', callers: ['group:contractors'] }],
  })
  t.same(policy.scoped, ['tools.deny_list[0]', 'tools.allow_list[1]', 'tools.allow_list[2]'], 'scoped entries are listed by path')
  const table: Array<[string, ToolCaller | undefined, string, 'allow' | 'deny', string]> = [
    ['group member', admin, 'write_file', 'allow', 'tools.allow_list[1]'],
    ['user by subject', bob, 'write_file', 'allow', 'tools.allow_list[1]'],
    ['non-member', dev, 'write_file', 'deny', 'not-in-allow_list'],
    ['spoofed admin (unverified)', spoofed, 'write_file', 'deny', 'not-in-allow_list'],
    ['no caller at all', undefined, 'write_file', 'deny', 'not-in-allow_list'],
    ['unscoped allow for everyone', spoofed, 'read_file', 'allow', 'tools.allow_list[0]'],
    ['* is any verified caller', dev, 'stats', 'allow', 'tools.allow_list[2]'],
    ['* is not an unverified caller', spoofed, 'stats', 'deny', 'not-in-allow_list'],
    ['scoped deny hits its group, over its admins allow', contractor, 'write_prod_db', 'deny', 'tools.deny_list[0]'],
    ['scoped deny spares other verified callers', admin, 'write_prod_db', 'allow', 'tools.allow_list[1]'],
    ['scoped deny applies to an unverified caller', spoofed, 'write_prod_db', 'deny', 'tools.deny_list[0]'],
    ['scoped deny applies with no caller', undefined, 'write_prod_db', 'deny', 'tools.deny_list[0]'],
    ['scoped deny only on its tool', contractor, 'write_file', 'allow', 'tools.allow_list[1]'],
    ['a tool in no list', admin, 'delete_repo', 'deny', 'not-in-allow_list'],
  ]
  for (const [what, caller, tool, verdict, rule] of table) {
    const d = decideTool(tool, policy, caller)
    t.same([d.verdict, d.rule], [verdict, rule], `${what}: ${tool} → ${verdict} by ${rule}`)
  }
  t.match(decideTool('write_file', policy, dev).reason, 'tool "write_file" is allowed by tools.allow_list[1] only for group:admins, user:bob')
  t.match(decideTool('write_file', policy, spoofed).reason, /only for group:admins, user:bob, and the caller is not verified/)
  t.match(decideTool('write_prod', policy, spoofed).reason, /\(tools\.deny_list\[0\], for group:contractors: the caller is not verified\)/)
  t.match(decideTool('write_file', policy, admin).reason, /\(tools\.allow_list\[1\], for group:admins, user:bob\)/)
})

t.test('an allow list of scoped entries only is not empty for anyone: other tools are denied to all', async (t) => {
  const policy = compileToolPolicy({ allow_list: [{ tool: 'admin_*', callers: ['group:admins'] }] })
  t.equal(decideTool('echo', policy, dev).verdict, 'deny', 'a non-member does not fall back to "empty allow list allows all"')
  t.equal(decideTool('echo', policy, spoofed).verdict, 'deny')
  t.equal(decideTool('admin_panel', policy, admin).verdict, 'allow')
  t.equal(decideTool('echo', compileToolPolicy({}), spoofed).verdict, 'allow', 'control: a really empty allow list allows all')
})

t.test('tools/list is filtered per caller', async (t) => {
  const policy = compileToolPolicy({ allow_list: ['echo', { tool: 'admin_*', callers: ['group:admins'] }], deny_list: [{ tool: 'echo', callers: ['user:eve'] }] })
  const tools = [{ name: 'echo' }, { name: 'admin_reset' }, { name: 'other' }]
  t.same(filterToolsList(tools, policy, admin).kept.map((x) => x.name), ['echo', 'admin_reset'])
  t.same(filterToolsList(tools, policy, dev).kept.map((x) => x.name), ['echo'])
  t.same(filterToolsList(tools, policy, { verified: true, subject: 'eve' }).kept.map((x) => x.name), [])
  t.same(filterToolsList(tools, policy).kept.map((x) => x.name), [], 'no caller: the scoped deny on echo applies')
})

t.test('callers compile; malformed references are refused naming the entry', async (t) => {
  const c = compileCallers(['*', 'user:a b', 'group:x:y'], 'tools.allow_list[0]')
  t.same([c.any, [...c.users], [...c.groups], c.text], [true, ['a b'], ['x:y'], '*, user:a b, group:x:y'])
  t.throws(() => compileCallers([], 'tools.allow_list[3]'), { code: ERROR_CODES.GLOB_INVALID, message: /^tools\.allow_list\[3\]\.callers: a caller-scoped rule must name at least one caller/ })
  for (const bad of ['admins', 'group:', 'user:', 'role:x', ' *']) {
    t.throws(() => compileCallers(['*', bad], 'tools.deny_list[0]'), { message: /^tools\.deny_list\[0\]\.callers\[1\]: / }, JSON.stringify(bad))
  }
  t.throws(() => compileToolPolicy({ deny_list: [{ tool: '', callers: ['*'] }] }), HangarError, 'an empty glob in a scoped rule')
  t.equal(ruleGlob({ tool: 'w_*', callers: ['*'] }), 'w_*')
  t.equal(ruleText({ tool: 'w_*', callers: ['group:a', 'user:b'] }), 'w_* for group:a, user:b')
  t.equal(ruleText('plain'), 'plain')
})

t.test('the schema: scoped entries parse strictly and errors name the field', async (t) => {
  const parse = (tools: unknown) => capabilitiesSchema.safeParse({ tools })
  const ok = parse({ allow_list: ['a', { tool: 'b_*', callers: ['group:g', 'user:u', '*'] }] })
  t.ok(ok.success)
  const issue = (tools: unknown) => {
    const r = parse(tools)
    return r.success ? undefined : { path: r.error.issues[0]!.path.join('.'), message: r.error.issues[0]!.message }
  }
  t.match(issue({ allow_list: [{ tool: 'x', callers: [] }] }), { path: 'tools.allow_list.0.callers', message: /must name at least one caller/ })
  t.match(issue({ deny_list: ['ok', { tool: 'x', callers: ['admins'] }] }), { path: 'tools.deny_list.1.callers.0', message: /is not a caller: write "group:<group>"/ })
  t.match(issue({ allow_list: [{ tool: 'x', callers: ['group: padded '] }] }), { path: 'tools.allow_list.0.callers.0', message: /printable ASCII characters without surrounding spaces/ })
  t.match(issue({ allow_list: [{ tool: 'x', callers: ['user:' + 'u'.repeat(129)] }] }), { path: 'tools.allow_list.0.callers.0' })
  t.match(issue({ allow_list: [{ tool: 'x', callers: ['*'], role: 'admin' }] }), { path: 'tools.allow_list.0', message: /Unrecognized key/ })
  t.match(issue({ allow_list: [{ callers: ['*'] }] }), { path: 'tools.allow_list.0.tool' })
  t.match(issue({ allow_list: [{ tool: '', callers: ['*'] }] }), { path: 'tools.allow_list.0.tool', message: /empty tool glob/ })
  t.match(issue({ allow_list: [7] }), { path: 'tools.allow_list.0', message: /expected a tool glob .* or a caller-scoped rule/ })
  t.match(issue({ allow_list: [['a']] }), { path: 'tools.allow_list.0', message: /expected a tool glob/ })
})

// ---- Properties -----------------------------------------------------------------------------------

const toolName = fc.constantFrom('read_a', 'read_b', 'write_a', 'write_b', 'admin', 'x')
const glob = fc.constantFrom('read_*', 'write_*', '*', 'admin', 'x', '?dmin', 'write_a')
const ref = fc.constantFrom('*', 'group:g1', 'group:g2', 'user:u1', 'user:u2')
const entry: fc.Arbitrary<ToolRuleConfig> = fc.oneof(glob, fc.record({ tool: glob, callers: fc.uniqueArray(ref, { minLength: 1, maxLength: 3 }) }))
const lists = fc.record({ allow_list: fc.array(entry, { maxLength: 5 }), deny_list: fc.array(entry, { maxLength: 4 }) })
const verifiedCaller = fc.record({ verified: fc.constant(true), subject: fc.constantFrom('u1', 'u2', 'u3'), groups: fc.subarray(['g1', 'g2', 'g3']) })

t.test('property: the names an unverified caller claims never change its decision', async (t) => {
  t.doesNotThrow(() => fc.assert(
    fc.property(lists, toolName, fc.constantFrom('u1', 'u2'), fc.subarray(['g1', 'g2']), (l, name, subject, groups) => {
      const policy = compileToolPolicy(l)
      const claimed = decideTool(name, policy, { verified: false, subject, groups })
      const anonymous = decideTool(name, policy, { verified: false })
      const none = decideTool(name, policy)
      return claimed.verdict === anonymous.verdict && claimed.rule === anonymous.rule && none.rule === anonymous.rule
    }),
    { numRuns: 2000 },
  ), '2000 random policies, tools and claimed identities')
})

t.test('property: an unverified caller is the least privileged: what it may call, every verified caller may', async (t) => {
  t.doesNotThrow(() => fc.assert(
    fc.property(lists, toolName, verifiedCaller, (l, name, caller) => {
      const policy = compileToolPolicy(l)
      return decideTool(name, policy, { verified: false }).verdict === 'deny' || decideTool(name, policy, caller).verdict === 'allow'
    }),
    { numRuns: 2000 },
  ), '2000 random policies, tools and verified callers')
})

t.test('property: a policy without scoped entries decides exactly as before, for any caller', async (t) => {
  t.doesNotThrow(() => fc.assert(
    fc.property(fc.array(glob, { maxLength: 5 }), fc.array(glob, { maxLength: 4 }), toolName, verifiedCaller, (allow, deny, name, caller) => {
      const policy = compileToolPolicy({ allow_list: allow, deny_list: deny })
      const base = decideTool(name, policy)
      const withCaller = decideTool(name, policy, caller)
      return base.verdict === withCaller.verdict && base.rule === withCaller.rule
    }),
    { numRuns: 1000 },
  ), '1000 random unscoped policies')
})

t.test('property: deny wins: a tool matched by a deny entry that applies is never allowed', async (t) => {
  t.doesNotThrow(() => fc.assert(
    fc.property(lists, toolName, fc.oneof(verifiedCaller, fc.constant({ verified: false } as ToolCaller)), (l, name, caller) => {
      const policy = compileToolPolicy(l)
      const d = decideTool(name, policy, caller)
      const applies = policy.deny.some((g) => matchToolGlob(g, name) && (!g.callers || !caller.verified || g.callers.any || g.callers.users.has(caller.subject ?? '') || (caller.groups ?? []).some((x) => g.callers!.groups.has(x))))
      return applies ? d.verdict === 'deny' && d.rule.startsWith('tools.deny_list[') : true
    }),
    { numRuns: 2000 },
  ), '2000 random policies')
})
