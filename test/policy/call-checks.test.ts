// The pure checks of a tools/call (policy/call-checks.ts) one by one, outside the Inspector: each
// returns pass, a violation (the mode applies) or a refusal (every mode), from the call's facts and
// the provider's compiled state alone. The chain order through the Inspector is in
// test/proxy/inspect/inspector-chain.test.ts.
import t from 'tap'
import {
  CALL_ERROR, argumentsCheck, concurrencyRefusal, holdCheck, inputSchemaCheck, quarantineCheck, rateLimitCheck, signalName, toolPolicyCheck,
  type CallCheckContext, type CallFacts, type ToolView,
} from '../../policy/call-checks.js'
import { TokenBucket } from '../../policy/rate-limit.js'
import { SchemaChecker } from '../../policy/schema-check.js'
import { compileSecretPatterns } from '../../policy/secret-patterns.js'
import { compileToolPolicy } from '../../policy/tool-policy.js'
import { RPC } from '../../proxy/types.js'

const AWS = 'AKIAIOSFODNN7EXAMPLE'

function tools(over: Partial<ToolView> = {}): ToolView {
  return {
    get: (name) => (name === 'fetch' ? { tool: { name, inputSchema: { type: 'object', properties: { url: { type: 'string' } }, additionalProperties: false } }, digest: 'sha256:aa' } : undefined),
    driftOf: () => undefined,
    isUndeclared: () => false,
    ...over,
  }
}

function ctx(over: Partial<CallCheckContext> = {}): CallCheckContext {
  return {
    policy: compileToolPolicy({ allow_list: [], deny_list: ['rm_*'] }),
    patterns: compileSecretPatterns(['aws-keys']),
    maxPayloadBytes: 1024,
    tools: tools(),
    checker: new SchemaChecker(),
    redactor: (s) => s,
    ...over,
  }
}

function facts(over: Partial<CallFacts> = {}): CallFacts {
  return { provider: 'p', name: 'fetch', args: { url: 'https://example.com' }, requestId: 7, mode: 'block', quarantine: { quarantined: false }, ...over }
}

t.test('the refusal codes are the JSON-RPC codes the MCP ingress answers with', async (t) => {
  t.equal(CALL_ERROR.POLICY_DENIED, RPC.POLICY_DENIED)
  t.equal(CALL_ERROR.INVALID_PARAMS, RPC.INVALID_PARAMS)
  t.equal(CALL_ERROR.RATE_LIMITED, RPC.RATE_LIMITED)
})

t.test('a clean call passes every check', async (t) => {
  for (const check of [quarantineCheck, toolPolicyCheck, holdCheck, argumentsCheck, inputSchemaCheck, rateLimitCheck]) {
    t.strictSame(check.run(facts(), ctx()), { kind: 'pass' }, check.name)
  }
})

t.test('quarantine: a refusal in every mode, with the reason', async (t) => {
  for (const mode of ['alert', 'block', 'quarantine'] as const) {
    const r = quarantineCheck.run(facts({ mode, quarantine: { quarantined: true, quarantineReason: 'operator' } }), ctx())
    t.match(r, { kind: 'refusal', refusal: { kind: 'quarantined', violation: { rule: 'quarantine', denied: 'quarantine', error: { code: -32001, data: { reason: 'provider "p" is quarantined: operator' } } } } }, mode)
  }
  t.ok(quarantineCheck.recheckAfterWait, 'the quarantine is rechecked after a wait')
})

t.test('tool policy, holds, arguments, schema: violations, which the mode then applies', async (t) => {
  t.match(toolPolicyCheck.run(facts({ name: 'rm_rf' }), ctx()), { kind: 'violation', violation: { type: 'tool_denied', rule: 'tools.deny_list[0]' } })
  const held = ctx({ tools: tools({ isUndeclared: () => true }) })
  t.match(holdCheck.run(facts(), held), { kind: 'violation', violation: { rule: 'tools.expected_tools', denied: 'undeclared' } }, 'block mode: held')
  t.strictSame(holdCheck.run(facts({ mode: 'alert' }), held), { kind: 'pass' }, 'alert mode: holds do not apply')
  const drifted = ctx({ tools: tools({ driftOf: () => ({ pin: { digest: 'sha256:00', source: 'profile' }, current: { digest: 'sha256:11' } }) }) })
  t.match(holdCheck.run(facts(), drifted), { kind: 'violation', violation: { rule: 'tools.pins', details: { pinned: 'sha256:00', current: 'sha256:11' } } })
  t.match(argumentsCheck.run(facts({ args: { url: AWS } }), ctx()), { kind: 'violation', violation: { type: 'secret_in_arguments', rule: 'arguments.secret_patterns.aws-keys' } })
  t.notMatch(JSON.stringify(argumentsCheck.run(facts({ args: { url: AWS } }), ctx())), AWS, 'the secret is never in the violation')
  t.match(inputSchemaCheck.run(facts({ args: { nope: 1 } }), ctx()), { kind: 'violation', violation: { type: 'schema_violation', error: { code: -32602 } } })
  t.ok(holdCheck.needsDefinition && inputSchemaCheck.needsDefinition, 'holds and schema read the definitions')
  t.notOk(argumentsCheck.needsDefinition || toolPolicyCheck.needsDefinition, 'policy and arguments do not')
})

t.test('input schema: an unknown tool or an unusable schema passes with a notice', async (t) => {
  t.strictSame(inputSchemaCheck.run(facts({ name: 'never_listed' }), ctx()), { kind: 'pass', notice: { kind: 'no_definition' } })
  const noSchema = ctx({ tools: tools({ get: (name) => ({ tool: { name }, digest: 'sha256:bb' }) }) })
  t.match(inputSchemaCheck.run(facts(), noSchema), { kind: 'pass', notice: { kind: 'invalid_schema', message: /no inputSchema/ } })
})

t.test('rate limit: takes a token when it passes, refuses with retry_after_ms when empty', async (t) => {
  let now = 0
  const bucket = new TokenBucket({ rps: 2, burst: 1 }, () => now)
  const c = ctx({ rateLimit: { bucket, rps: 2, burst: 1 } })
  t.strictSame(rateLimitCheck.run(facts(), c), { kind: 'pass' }, 'the burst token')
  t.match(rateLimitCheck.run(facts(), c), {
    kind: 'refusal',
    refusal: { kind: 'rate_limited', limit: 'rate', rule: 'rate_limit', error: { code: -32002, message: 'Rate limit exceeded', data: { provider: 'p', retry_after_ms: 500 } }, details: { retry_after_ms: 500, request_id: 7 } },
  })
  now = 500
  t.strictSame(rateLimitCheck.run(facts(), c), { kind: 'pass' }, 'refilled after retry_after_ms')
  t.strictSame(rateLimitCheck.run(facts(), ctx()), { kind: 'pass' }, 'no rate_limit configured: pass')
})

t.test('the concurrency refusal names the limit and the wait', async (t) => {
  t.match(concurrencyRefusal({ provider: 'p', requestId: 'r1' }, 4, 250, 251), {
    kind: 'rate_limited', limit: 'concurrency', rule: 'max_concurrency',
    reason: 'all 4 concurrency slots stayed busy for 250 ms (queue_timeout_ms)',
    error: { code: -32002, message: 'Too many concurrent tool calls', data: { provider: 'p', rule: 'max_concurrency' } },
    details: { request_id: 'r1', max_concurrency: 4, waited_ms: 251 },
  })
  t.equal(signalName('x'.repeat(300)).length, 201, 'long names are cut to 200 code units and …')
})
