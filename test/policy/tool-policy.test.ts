// The tool policy (policy/tool-policy.ts; `capabilities.tools`, docs/mcp-ingress.md §Inspection): globs over MCP
// tool names (`*` any run, `?` one character, everything else literal, case-sensitive), deny wins
// over allow, an empty allow list allows all, and `expected_tools` yields undeclared tools.
import t from 'tap'
import { ERROR_CODES, HangarError } from '../../core/errors.js'
import { capabilitiesSchema } from '../../policy/capabilities.js'
import {
  compileToolGlob, compileToolPolicy, decideTool, filterToolsList, matchToolGlob, undeclaredTools,
  type ToolDecision,
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
