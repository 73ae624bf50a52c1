// The order of the tools/call checks is data (policy/call-checks.ts CALL_CHECKS, or
// InspectorOptions.callChecks): a call that breaks two checks gets the refusal of the earlier one,
// and swapping the two in the array swaps the outcome. In alert mode both violations are signalled,
// in chain order. Every pair of neighbouring checks is covered, plus the wait-time rechecks.
import t from 'tap'
import {
  CALL_CHECKS, argumentsCheck, holdCheck, inputSchemaCheck, quarantineCheck, rateLimitCheck, toolPolicyCheck, type CallCheck,
} from '../../../policy/call-checks.js'
import type { ClientVerdict } from '../../../proxy/inspect/inspector.js'
import { RPC } from '../../../proxy/types.js'
import { TOOLS, harness, type Harness } from './harness.js'

const AWS = 'AKIAIOSFODNN7EXAMPLE'

/** The chain with `a` and `b` (both in it) swapped. */
function swapped(a: CallCheck, b: CallCheck): CallCheck[] {
  const out = [...CALL_CHECKS]
  const i = out.indexOf(a)
  const j = out.indexOf(b)
  if (i < 0 || j < 0) throw new Error('test table error: check not in the chain')
  out[i] = b
  out[j] = a
  return out
}

function refusal(v: ClientVerdict): { code: number; rule: unknown } | undefined {
  if (v.action !== 'reply') return undefined
  const data = v.response.error.data as { rule?: unknown } | unknown[]
  return { code: v.response.error.code, rule: Array.isArray(data) ? 'inputSchema' : data?.rule }
}

interface PairCase {
  pair: string
  earlier: CallCheck
  later: CallCheck
  capabilities: Record<string, unknown>
  rateLimit?: { rps: number; burst: number }
  /** Puts the provider in the state where the call breaks both checks. */
  setup(h: Harness): Promise<void> | void
  tool: string
  args: unknown
  /** The refusal (code, rule) of each check. */
  earlierRefusal: { code: number; rule: string }
  laterRefusal: { code: number; rule: string }
}

const listAll = (h: Harness): void => {
  h.list([TOOLS.fetch_html, TOOLS.fetch_markdown, TOOLS.delete_cache])
}

const PAIRS: PairCase[] = [
  {
    pair: 'quarantine before tool policy', earlier: quarantineCheck, later: toolPolicyCheck,
    capabilities: { enforcement_mode: 'block', tools: { deny_list: ['delete_cache'] } },
    setup: (h) => {
      listAll(h)
      h.enforcement.quarantine('operator: suspicious egress', 'api')
    },
    tool: 'delete_cache', args: {},
    earlierRefusal: { code: RPC.POLICY_DENIED, rule: 'quarantine' }, laterRefusal: { code: RPC.POLICY_DENIED, rule: 'tools.deny_list[0]' },
  },
  {
    pair: 'tool policy before holds', earlier: toolPolicyCheck, later: holdCheck,
    capabilities: { enforcement_mode: 'block', tools: { deny_list: ['delete_cache'], expected_tools: ['fetch_html'] } },
    setup: listAll, tool: 'delete_cache', args: {},
    earlierRefusal: { code: RPC.POLICY_DENIED, rule: 'tools.deny_list[0]' }, laterRefusal: { code: RPC.POLICY_DENIED, rule: 'tools.expected_tools' },
  },
  {
    pair: 'holds before arguments', earlier: holdCheck, later: argumentsCheck,
    capabilities: { enforcement_mode: 'block', tools: { expected_tools: ['fetch_html'] }, arguments: { secret_patterns: ['aws-keys'] } },
    setup: listAll, tool: 'fetch_markdown', args: { url: AWS },
    earlierRefusal: { code: RPC.POLICY_DENIED, rule: 'tools.expected_tools' }, laterRefusal: { code: RPC.POLICY_DENIED, rule: 'arguments.secret_patterns.aws-keys' },
  },
  {
    pair: 'arguments before input schema', earlier: argumentsCheck, later: inputSchemaCheck,
    capabilities: { enforcement_mode: 'block', arguments: { secret_patterns: ['aws-keys'] } },
    setup: listAll, tool: 'fetch_html', args: { url: 'https://example.com', token: AWS },
    earlierRefusal: { code: RPC.POLICY_DENIED, rule: 'arguments.secret_patterns.aws-keys' }, laterRefusal: { code: RPC.INVALID_PARAMS, rule: 'inputSchema' },
  },
  {
    pair: 'input schema before the rate limit', earlier: inputSchemaCheck, later: rateLimitCheck,
    capabilities: { enforcement_mode: 'block' }, rateLimit: { rps: 1, burst: 1 },
    setup: async (h) => {
      listAll(h)
      const first = await h.call('fetch_html', { url: 'https://example.com' })
      if (first.action !== 'forward') throw new Error('the call that empties the bucket was refused')
      first.ticket?.finish(undefined)
    },
    tool: 'fetch_html', args: { nope: 1 },
    earlierRefusal: { code: RPC.INVALID_PARAMS, rule: 'inputSchema' }, laterRefusal: { code: RPC.RATE_LIMITED, rule: 'rate_limit' },
  },
  {
    pair: 'quarantine before the rate limit (not neighbours)', earlier: quarantineCheck, later: rateLimitCheck,
    capabilities: { enforcement_mode: 'alert' }, rateLimit: { rps: 1, burst: 1 },
    setup: async (h) => {
      listAll(h)
      const first = await h.call('fetch_html', { url: 'https://example.com' })
      if (first.action === 'forward') first.ticket?.finish(undefined)
      h.enforcement.quarantine('operator', 'api')
    },
    tool: 'fetch_html', args: { url: 'https://example.com' },
    earlierRefusal: { code: RPC.POLICY_DENIED, rule: 'quarantine' }, laterRefusal: { code: RPC.RATE_LIMITED, rule: 'rate_limit' },
  },
]

t.test('the default chain is the documented order', async (t) => {
  t.strictSame(CALL_CHECKS.map((c) => c.name), ['quarantine', 'tool_policy', 'holds', 'arguments', 'input_schema', 'rate_limit'])
})

for (const c of PAIRS) {
  t.test(`${c.pair}: the earlier check's refusal wins; swapping them in the chain swaps the refusal`, async (t) => {
    for (const [label, chain, want] of [
      ['default chain', undefined, c.earlierRefusal],
      ['swapped chain', swapped(c.earlier, c.later), c.laterRefusal],
    ] as const) {
      const h = harness(t, c.capabilities, { ...(c.rateLimit && { rateLimit: c.rateLimit }), ...(chain && { callChecks: chain }) })
      await c.setup(h)
      const v = await h.call(c.tool, c.args)
      t.strictSame(refusal(v), want, `${label}: refused by ${want.rule}`)
      // The control: the call really breaks both checks (each alone refuses it).
      const only = harness(t, c.capabilities, { ...(c.rateLimit && { rateLimit: c.rateLimit }), callChecks: [label === 'default chain' ? c.later : c.earlier] })
      await c.setup(only)
      const alone = await only.call(c.tool, c.args)
      const other = label === 'default chain' ? c.laterRefusal : c.earlierRefusal
      t.strictSame(refusal(alone), other, `${label}: the other check alone refuses with ${other.rule}`)
    }
  })
}

t.test('alert mode: both violations are signalled, in chain order, and the call is forwarded', async (t) => {
  const caps = { enforcement_mode: 'alert', tools: { deny_list: ['fetch_html'] }, arguments: { secret_patterns: ['aws-keys'] } }
  for (const [label, chain, order] of [
    ['default chain', undefined, ['tool_denied', 'secret_in_arguments']],
    ['swapped chain', swapped(toolPolicyCheck, argumentsCheck), ['secret_in_arguments', 'tool_denied']],
  ] as const) {
    const h = harness(t, caps, chain ? { callChecks: chain } : {})
    listAll(h)
    const v = await h.call('fetch_html', { url: AWS })
    t.equal(v.action, 'forward', `${label}: forwarded`)
    t.strictSame(h.signals().filter((s) => s.action === 'alerted').map((s) => s.type), order, `${label}: signals in chain order`)
    t.strictSame(v.action === 'forward' ? v.alerts?.map((a) => a.type) : undefined, order, `${label}: the verdict's alerts in chain order`)
  }
})

t.test('an empty chain forwards everything (the checks are what refuse)', async (t) => {
  const h = harness(t, { enforcement_mode: 'block', tools: { deny_list: ['*'] } }, { callChecks: [] })
  listAll(h)
  h.enforcement.quarantine('operator', 'api')
  t.equal((await h.call('delete_cache', {})).action, 'forward', 'nothing checks: forwarded')
  const full = harness(t, { enforcement_mode: 'block', tools: { deny_list: ['*'] } })
  listAll(full)
  t.equal((await full.call('delete_cache', {})).action, 'reply', 'control: the default chain refuses the same call')
})

t.test('after waiting for a concurrency slot, the recheck-after-wait checks run again', async (t) => {
  const h = harness(t, { enforcement_mode: 'block' }, { maxConcurrency: 1, queueTimeoutMs: 10_000 })
  listAll(h)
  const first = await h.call('fetch_html', { url: 'https://example.com' })
  t.equal(first.action, 'forward', 'the first call takes the only slot')
  const waiting = h.call('fetch_html', { url: 'https://example.com' })
  h.enforcement.quarantine('operator: while queued', 'api')
  if (first.action === 'forward') first.ticket?.finish(undefined)
  t.strictSame(refusal(await waiting), { code: RPC.POLICY_DENIED, rule: 'quarantine' }, 'the queued call is refused: quarantined meanwhile')

  const noRecheck = harness(t, { enforcement_mode: 'block' }, { maxConcurrency: 1, queueTimeoutMs: 10_000, callChecks: CALL_CHECKS.map((c) => (c === quarantineCheck ? { ...c, recheckAfterWait: false } : c)) })
  listAll(noRecheck)
  const a = await noRecheck.call('fetch_html', { url: 'https://example.com' })
  const b = noRecheck.call('fetch_html', { url: 'https://example.com' })
  noRecheck.enforcement.quarantine('operator: while queued', 'api')
  if (a.action === 'forward') a.ticket?.finish(undefined)
  t.equal((await b).action, 'forward', 'control: without the flag the queued call goes through (the flag is what rechecks)')
})
