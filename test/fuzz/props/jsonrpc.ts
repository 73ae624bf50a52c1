/**
 * The JSON-RPC / batch parser of the MCP ingress (proxy/http/jsonrpc.ts parseBody,
 * classifyMessage, exceedsDepth). Valid messages of every kind (JSON-RPC 2.0; MCP base protocol)
 * come out unchanged; each invalidating change of the class (an extra member, a wrong-typed id,
 * method, params, result or error, a wrong `jsonrpc`) makes exactly that element -32600 with its
 * id kept when readable; batches keep order and count; the bracket scan agrees with the real
 * nesting of any JSON value (brackets inside strings and escaped quotes included), so no body
 * deeper than the limit reaches `JSON.parse`; and any text never throws and finishes in time.
 */
import { isDeepStrictEqual } from 'node:util'
import fc from 'fast-check'
import { DEFAULT_MAX_BATCH, classifyMessage, exceedsDepth, parseBody } from '../../../proxy/http/jsonrpc.js'
import { withinTime, type FuzzTarget } from '../lib/fuzz.js'

/** Strings with the characters that trip bracket scanners: quotes, backslashes, brackets. */
const trickyString = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.array(fc.constantFrom('"', '\\', '[', ']', '{', '}', 'a', '\\"', '\\\\', '\u2028', '\uFEFF'), { maxLength: 12 }).map((a) => a.join('')),
)
const json = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    trickyString,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(trickyString, tie('value'), { maxKeys: 4 }),
  ),
})).value
const object = fc.dictionary(trickyString.filter((k) => k !== '__proto__'), json, { maxKeys: 4 })
const id = fc.oneof(fc.string({ maxLength: 10 }), fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }))

type Message = Record<string, unknown>
const request: fc.Arbitrary<Message> = fc.record({ jsonrpc: fc.constant('2.0'), id, method: fc.string({ maxLength: 20 }), params: fc.option(fc.tuple(object, fc.option(object, { nil: undefined })).map(([p, meta]) => (meta ? { ...p, _meta: meta } : p)), { nil: undefined }) }, { requiredKeys: ['jsonrpc', 'id', 'method'] })
const notification = request.map(({ id: _id, ...n }) => n)
const result = fc.record({ jsonrpc: fc.constant('2.0'), id, result: object })
const error = fc.record(
  { jsonrpc: fc.constant('2.0'), id: fc.oneof(id, fc.constant(null)), error: fc.record({ code: fc.integer(), message: fc.string({ maxLength: 20 }), data: json }, { requiredKeys: ['code', 'message'] }) },
  { requiredKeys: ['jsonrpc', 'error'] },
)
const message = fc.oneof(request, notification, result, error)

/** One change that makes a valid message invalid, applied to a message of the right kind. */
const BREAKS: ReadonlyArray<[string, (m: Message) => Message | undefined]> = [
  ['an extra member', (m) => ({ ...m, extra: 1 })],
  ['jsonrpc "1.0"', (m) => ({ ...m, jsonrpc: '1.0' })],
  ['jsonrpc missing', ({ jsonrpc: _j, ...m }) => m],
  ['a fractional id', (m) => ('id' in m && m.id !== null ? { ...m, id: 1.5 } : undefined)],
  ['an unsafe integer id', (m) => ('id' in m && m.id !== null ? { ...m, id: 2 ** 53 } : undefined)],
  ['a boolean id', (m) => ('id' in m ? { ...m, id: true } : undefined)],
  ['a null request id', (m) => ('method' in m && 'id' in m ? { ...m, id: null } : undefined)],
  ['params an array', (m) => ('method' in m ? { ...m, params: [1] } : undefined)],
  ['params null', (m) => ('method' in m ? { ...m, params: null } : undefined)],
  ['params._meta a string', (m) => ('method' in m ? { ...m, params: { _meta: 'x' } } : undefined)],
  ['method a number', (m) => ('method' in m ? { ...m, method: 1 } : undefined)],
  ['result an array', (m) => ('result' in m ? { ...m, result: [] } : undefined)],
  ['error.code fractional', (m) => ('error' in m ? { ...m, error: { code: 0.5, message: 'x' } } : undefined)],
  ['error.message missing', (m) => ('error' in m ? { ...m, error: { code: 1 } } : undefined)],
  ['error with an extra member', (m) => ('error' in m ? { ...m, error: { code: 1, message: 'x', more: 1 } } : undefined)],
  ['result and error together', (m) => ('result' in m ? { ...m, error: { code: 1, message: 'x' } } : undefined)],
]

/** Nesting depth as JSON.parse reaches it: 0 for a scalar, +1 per object or array. */
function depthOf(v: unknown): number {
  if (v === null || typeof v !== 'object') return 0
  const children = Array.isArray(v) ? v : Object.values(v)
  return 1 + children.reduce((m: number, c) => Math.max(m, depthOf(c)), 0)
}

/** The message as parseBody returns it: an error response without id gets `id: null`. */
function normalised(m: Message): Message {
  return 'error' in m && !('id' in m) ? { ...m, id: null } : m
}

const JSONISH = ['[', ']', '{', '}', '"', '\\', ':', ',', '1', '-0.5e3', 'true', 'null', ' ', '"jsonrpc"', '"2.0"', '"id"', '"method"', '"params"', '"result"', '"error"', '"__proto__"', 'a', '\uFEFF', '\u2028', '\n']
const anyText = fc.oneof(
  fc.array(fc.constantFrom(...JSONISH), { maxLength: 60 }).map((a) => a.join('')),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.array(message, { maxLength: 5 }).map((ms) => JSON.stringify(ms)),
)

function bodyInvariants(text: string, maxDepth: number): void {
  const r = withinTime(() => parseBody(text, maxDepth, { maxBatch: 8 }))
  if (!r.ok) {
    if (![-32700, -32600].includes(r.error.error.code) || r.error.id !== null) throw new Error(`refusal ${JSON.stringify(r.error)}`)
    return
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text)
  } catch {
    throw new Error('parseBody accepted text JSON.parse refuses')
  }
  if (depthOf(parsed) > maxDepth) throw new Error('a body deeper than the limit was parsed')
  const n = r.batch ? (parsed as unknown[]).length : 1
  if (r.messages.length + r.invalid.length !== n) throw new Error(`${r.messages.length} + ${r.invalid.length} elements for ${n}`)
  for (const e of r.invalid) if (e.error.code !== -32600) throw new Error(`invalid element with code ${e.error.code}`)
}

export const jsonrpcTarget: FuzzTarget = {
  parser: 'jsonrpc',
  source: 'proxy/http/jsonrpc.ts (parseBody, classifyMessage, exceedsDepth)',
  properties: [
    {
      name: 'a valid request, notification, result or error parses to exactly itself',
      weight: 2,
      property: () =>
        fc.property(message, fc.boolean(), (m, bom) => {
          const r = parseBody((bom ? '\uFEFF' : '') + JSON.stringify(m), 64)
          if (!r.ok || r.batch || r.invalid.length || r.messages.length !== 1 || !isDeepStrictEqual(r.messages[0], normalised(JSON.parse(JSON.stringify(m)) as Message))) throw new Error(JSON.stringify(r))
          return classifyMessage(JSON.parse(JSON.stringify(m))).ok
        }),
    },
    {
      name: 'each invalidating change makes the element -32600, keeping its id when the id is valid',
      weight: 2,
      property: () =>
        fc.property(message, fc.nat(BREAKS.length - 1), (m, b) => {
          const broken = BREAKS[b]![1](m)
          if (!broken) return true
          const r = parseBody(JSON.stringify(broken), 64)
          if (!r.ok || r.messages.length !== 0 || r.invalid.length !== 1) throw new Error(`${BREAKS[b]![0]}: ${JSON.stringify(r)}`)
          const e = r.invalid[0]!
          const bid = broken.id
          const wantId = typeof bid === 'string' || (typeof bid === 'number' && Number.isSafeInteger(bid)) ? bid : null
          return e.error.code === -32600 && e.id === wantId
        }),
    },
    {
      name: 'a batch keeps every element in order; empty and oversized batches are refused',
      property: () =>
        fc.property(fc.array(fc.oneof(message, message.map((m) => ({ ...m, extra: true }))), { maxLength: DEFAULT_MAX_BATCH + 3 }), (ms) => {
          const r = parseBody(JSON.stringify(ms), 64)
          if (ms.length === 0 || ms.length > DEFAULT_MAX_BATCH) return !r.ok && r.error.error.code === -32600
          if (!r.ok || !r.batch) throw new Error(JSON.stringify(r))
          const valid = ms.filter((m) => !('extra' in m)).map((m) => normalised(JSON.parse(JSON.stringify(m)) as Message))
          return isDeepStrictEqual(r.messages, valid) && r.invalid.length === ms.length - valid.length
        }),
    },
    {
      name: 'the bracket scan equals the real nesting of any JSON value (strings with brackets, escaped quotes)',
      weight: 2,
      property: () =>
        fc.property(json, fc.integer({ min: 0, max: 8 }), fc.boolean(), (v, max, pretty) => {
          const text = pretty ? JSON.stringify(v, null, 1) : JSON.stringify(v)
          if (text === undefined) return true
          return exceedsDepth(text, max) === depthOf(v) > max
        }),
    },
    {
      name: 'a body nested far beyond the limit is refused (-32700) before JSON.parse, in time',
      property: () =>
        fc.property(fc.integer({ min: 65, max: 20_000 }), fc.constantFrom('[', '{"a":'), fc.boolean(), (depth, open, inString) => {
          const close = open === '[' ? ']' : '}'
          const body = inString ? `["${open.replace(/"/g, '\\"').repeat(depth)}"]` : open.repeat(depth) + '1' + close.repeat(depth)
          const r = withinTime(() => parseBody(body, 64))
          // Brackets inside a string are text, not nesting: that body is one valid element (depth 1).
          if (inString) return r.ok
          return !r.ok && r.error.error.code === -32700
        }),
    },
    {
      name: 'any text (JSON-ish fragments, binary, batches): no throw, counts consistent, nothing deeper than the limit parsed, in time',
      weight: 5,
      property: () => fc.property(anyText, fc.integer({ min: 1, max: 8 }), (s, d) => (bodyInvariants(s, d), true)),
    },
    {
      name: 'classifyMessage on any JSON value: no throw; valid exactly when parseBody says so',
      weight: 2,
      property: () =>
        fc.property(fc.oneof(json, message, message.map((m) => ({ ...m, ...(m.id !== undefined && { id: [m.id] }) }))), (v) => {
          const copy = JSON.parse(JSON.stringify(v) ?? 'null') as unknown
          const c = withinTime(() => classifyMessage(copy))
          const text = JSON.stringify(v) ?? 'null'
          const b = parseBody(text, 1000)
          if (!b.ok) return true
          if (Array.isArray(v)) return true
          return c.ok === (b.messages.length === 1)
        }),
    },
  ],
}
