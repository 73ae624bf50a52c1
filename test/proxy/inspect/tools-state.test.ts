// Tool knowledge of one provider (proxy/inspect/tools-state.ts) and the pure call checks
// (policy/call-checks.ts): digests per field, drift derived from pins and reported once per
// digest, undeclared tools, finding rules and redaction of schema errors.
import t from 'tap'
import { argumentsViolation, findingRule, holdViolation, makeRedactor, pinRule, policyViolation, schemaCheck } from '../../../policy/call-checks.js'
import { PinStore } from '../../../proxy/inspect/pins.js'
import { ToolsState, changedFields, describeTool, isToolDefinition } from '../../../proxy/inspect/tools-state.js'
import { SchemaChecker } from '../../../policy/schema-check.js'
import { compileSecretPatterns } from '../../../policy/secret-patterns.js'
import { toolDigest } from '../../../policy/tool-digest.js'
import { compileToolPolicy } from '../../../policy/tool-policy.js'
import { TOOLS, recordingLogger, tempDir } from './harness.js'

function state(t: { teardown(fn: () => void): void }, opts: { expected?: string[]; drift?: boolean; profile?: Record<string, string> } = {}) {
  const dataDir = tempDir(t, () => pins.flush())
  const pins = new PinStore({ dataDir, log: recordingLogger().log, profilePins: opts.profile })
  return { pins, s: new ToolsState(pins, { expectedTools: opts.expected, driftDetection: opts.drift ?? true }) }
}

t.test('describeTool and changedFields name the changed fields', async (t) => {
  const base = describeTool(TOOLS.fetch_html)
  t.equal(base.digest, `sha256:${toolDigest(TOOLS.fetch_html)}`)
  const cases = [
    { case: 'description', tool: { ...TOOLS.fetch_html, description: 'x' }, fields: ['description'] },
    { case: 'inputSchema', tool: { ...TOOLS.fetch_html, inputSchema: { type: 'object' } }, fields: ['inputSchema'] },
    { case: 'annotations removed', tool: { ...TOOLS.fetch_html, annotations: undefined }, fields: ['annotations'] },
    { case: 'two fields', tool: { ...TOOLS.fetch_html, description: 'x', annotations: {} }, fields: ['description', 'annotations'] },
    { case: 'key order only', tool: { annotations: TOOLS.fetch_html.annotations, inputSchema: TOOLS.fetch_html.inputSchema, description: TOOLS.fetch_html.description, name: 'fetch_html' }, fields: [] },
    { case: 'title is outside the digest', tool: { ...TOOLS.fetch_html, title: 'New title' }, fields: [] },
  ]
  for (const c of cases) t.same(changedFields(base.fields, describeTool(c.tool).fields), c.fields, c.case)
  t.equal(changedFields(undefined, base.fields), null, 'unknown pinned fields')
})

t.test('isToolDefinition', async (t) => {
  const cases: Array<[unknown, boolean]> = [[{ name: 'a' }, true], [{ name: '' }, false], [{ name: 1 }, false], [null, false], [[], false], ['a', false], [{}, false]]
  for (const [v, ok] of cases) t.equal(isToolDefinition(v), ok, JSON.stringify(v))
})

t.test('record: pin on first sight, drift once per digest, back at the pin resets', async (t) => {
  const { s, pins } = state(t)
  t.same(s.record(describeTool(TOOLS.fetch_html)), { seen: describeTool(TOOLS.fetch_html), pinned: true })
  t.equal(pins.pinOf('fetch_html')?.source, 'learned')
  const v2 = describeTool({ ...TOOLS.fetch_html, description: 'v2' })
  t.match(s.record(v2), { drift: { name: 'fetch_html', fields: ['description'], pin: { source: 'learned' } } })
  t.notOk(s.record(v2).drift, 'same digest: reported once')
  t.ok(s.driftOf('fetch_html'), 'still drifted')
  t.notOk(s.record(describeTool(TOOLS.fetch_html)).drift, 'back at the pin')
  t.notOk(s.driftOf('fetch_html'))
  t.ok(s.record(v2).drift, 'drifting again is reported again')
  t.same(s.approve(['fetch_html']), [])
  t.notOk(s.driftOf('fetch_html'), 'approved')
})

t.test('drift detection off: no drift, pins kept', async (t) => {
  const { s, pins } = state(t, { drift: false })
  s.record(describeTool(TOOLS.fetch_html))
  t.notOk(s.record(describeTool({ ...TOOLS.fetch_html, description: 'v2' })).drift)
  t.notOk(s.driftOf('fetch_html'))
  t.equal(pins.pinOf('fetch_html')?.digest, `sha256:${toolDigest(TOOLS.fetch_html)}`)
})

t.test('undeclared: reported once, approvable; no expected_tools = nothing undeclared', async (t) => {
  const { s } = state(t, { expected: ['fetch_html'] })
  t.ok(s.record(describeTool(TOOLS.delete_cache)).firstUndeclared)
  t.notOk(s.record(describeTool(TOOLS.delete_cache)).firstUndeclared)
  t.notOk(s.record(describeTool(TOOLS.fetch_html)).firstUndeclared)
  t.ok(s.isUndeclared('never_listed'))
  s.approve(['delete_cache', 'never_listed'])
  t.notOk(s.isUndeclared('delete_cache'))
  t.notOk(s.isUndeclared('never_listed'), 'a name can be approved before it is listed')
  const open = state(t).s
  t.notOk(open.isUndeclared('anything'))
  t.same(state(t, { expected: [] }).s.isUndeclared('a'), true, 'an empty expected_tools makes every tool undeclared')
})

t.test('a profile pin: drift with unknown fields until the pinned definition is seen', async (t) => {
  const pinned = `sha256:${toolDigest(TOOLS.fetch_html)}`
  const { s } = state(t, { profile: { fetch_html: pinned } })
  t.match(s.record(describeTool({ ...TOOLS.fetch_html, description: 'x' })), { drift: { fields: null, pin: { source: 'profile' } } })
  s.record(describeTool(TOOLS.fetch_html))
  t.match(s.record(describeTool({ ...TOOLS.fetch_html, description: 'y' })), { drift: { fields: ['description'] } }, 'fields known once the profile definition was seen')
  t.same(s.approve(['fetch_html']), ['fetch_html'], 'approving over a profile pin is reported')
})

t.test('call checks: rules, holds, findings, redaction', async (t) => {
  const policy = compileToolPolicy({ deny_list: ['rm*'] })
  t.match(policyViolation('p', 'rm_rf', policy), { rule: 'tools.deny_list[0]', denied: 'policy', error: { code: -32001, data: { provider: 'p', rule: 'tools.deny_list[0]' } } })
  t.equal(policyViolation('p', 'ls', policy), undefined)
  t.equal(pinRule({ digest: 'd', source: 'profile' }), 'tools.pins')
  t.equal(pinRule({ digest: 'd', source: 'approved' }), 'approved-pin')
  t.equal(pinRule({ digest: 'd', source: 'learned' }), 'first-sight-pin')
  const { s } = state(t, { expected: ['a'] })
  t.match(holdViolation('p', 'b', s), { rule: 'tools.expected_tools', denied: 'undeclared' })
  t.equal(holdViolation('p', 'a', s), undefined)

  const rules = [
    ['payload_too_large', 'arguments.max_payload_bytes'], ['nesting_too_deep', 'arguments.scan_limits'],
    ['scan_limit_exceeded', 'arguments.scan_limits'], ['jwt', 'arguments.secret_patterns.jwt'],
  ] as const
  for (const [pattern, rule] of rules) t.equal(findingRule({ pattern, path: '', preview: '' }), rule, pattern)
  let deep: unknown = 'leaf'
  for (let i = 0; i < 70; i++) deep = { d: deep }
  t.match(argumentsViolation('p', 't', deep, [], 1e9), { rule: 'arguments.scan_limits' }, 'nesting beyond the scan limit fails closed')
  t.equal(argumentsViolation('p', 't', { a: 'fine' }, compileSecretPatterns(['jwt']), 1000), undefined)

  const redact = makeRedactor(compileSecretPatterns(['aws-keys']))
  t.equal(redact('x AKIAIOSFODNN7EXAMPLE and AKIAIOSFODNN7EXAMPLF'), 'x AKIA… and AKIA…', 'every match redacted')
  t.equal(makeRedactor([])('AKIAIOSFODNN7EXAMPLE'), 'AKIAIOSFODNN7EXAMPLE', 'no patterns: identity')
  const r = schemaCheck('t', describeTool({ name: 't', inputSchema: { type: 'object', additionalProperties: false } }), { AKIAIOSFODNN7EXAMPLE: 1 }, new SchemaChecker(), redact)
  t.match(r, { kind: 'violation', violation: { error: { code: -32602, data: [{ path: 'AKIA…' }] }, details: { draft: '2020-12' } } })
  t.match(schemaCheck('t', describeTool({ name: 't', inputSchema: { $schema: 'https://example.com/custom' } }), {}, new SchemaChecker()), { kind: 'invalid_schema' })
  t.match(schemaCheck('t', describeTool({ name: 't' }), {}, new SchemaChecker()), { kind: 'invalid_schema', message: /no inputSchema/ })
})
