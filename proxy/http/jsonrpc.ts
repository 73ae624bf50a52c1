/**
 * JSON-RPC 2.0 framing of the MCP ingress: a request body (or a provider's stdio line / SSE
 * `data`) into validated messages. Pure: no I/O.
 *
 * Rules (JSON-RPC 2.0, https://www.jsonrpc.org/specification; MCP "Base Protocol", spec
 * 2025-06-18 and 2025-11-25; member sets as the MCP TypeScript SDK's strict schemas):
 * - `jsonrpc` is exactly `"2.0"`;
 * - request: `id` is a string or an integer (MCP forbids null; fractional and unsafe integers
 *   beyond ±2^53−1 are refused, as they cannot be echoed back exactly), `method` a string,
 *   `params` an object when present (MCP: never an array, never null), `params._meta` an object
 *   when present; nothing else;
 * - notification: the same without `id`;
 * - result response: `id` and `result`, an object;
 * - error response: `error` `{code: integer, message: string, data?}`, `id` absent, null or an id
 *   (absent is normalised to null);
 * - any other member makes the element invalid (the SDK's schemas are `.strict()`), so what we
 *   inspect is what a provider on the SDK accepts.
 *
 * Duplicate keys: the last one wins (`JSON.parse`). The inspected value is therefore the parsed
 * object: forward its re-serialisation, never the raw bytes, or a provider with a first-wins parser
 * could see a different message than the one inspected.
 *
 * A leading byte-order mark is ignored (RFC 8259 §8.1: parsers "MAY ignore the presence of a BOM").
 */
import { RPC, rpcError, type JsonRpcErrorResponse, type JsonRpcId, type JsonRpcMessage } from '../types.js'

/** A body that cannot be answered message by message: answer `error` alone (HTTP 400). */
export interface BodyRefused {
  ok: false
  /** -32700 (not JSON, or nested deeper than allowed) or -32600 (empty or oversized batch); id null. */
  error: JsonRpcErrorResponse
}

/** A body parsed into elements; each element is either a valid message or an invalid one. */
export interface BodyParsed {
  ok: true
  /** The body was a JSON array (JSON-RPC batch; MCP 2025-06-18 and later removed batching). */
  batch: boolean
  /** Valid messages, in body order. */
  messages: JsonRpcMessage[]
  /** One -32600 error response per invalid element (its id when readable, else null), in body order. */
  invalid: JsonRpcErrorResponse[]
}

/** The result of {@link parseBody}. */
export type ParsedBody = BodyRefused | BodyParsed

/** The result of {@link classifyMessage}: a valid message, or the -32600 error it earns. */
export type Classified = { ok: true; message: JsonRpcMessage } | { ok: false; error: JsonRpcErrorResponse }

/** Options of {@link parseBody}. */
export interface ParseBodyOptions {
  /** Largest batch accepted; longer → -32600. Default 100 (the MCP SDK's `MAX_BATCH_SIZE`). */
  maxBatch?: number
}

/** Default largest batch (the MCP TypeScript SDK's `MAX_BATCH_SIZE`). */
export const DEFAULT_MAX_BATCH = 100

const PARSE_ERROR = Object.freeze(rpcError(null, RPC.PARSE_ERROR, 'Parse error: Invalid JSON'))
const EMPTY_BATCH = Object.freeze(rpcError(null, RPC.INVALID_REQUEST, 'Invalid Request: empty batch'))

/**
 * Parses a request body into JSON-RPC messages.
 *
 * Nesting is checked first by a linear scan of the brackets outside strings, before
 * `JSON.parse`, so no body can exhaust the stack or make later recursive walks deep: a body whose
 * nesting exceeds `maxDepth` is a -32700 parse error. Depth counts every `{` and `[`: a single
 * request `{"params":{"arguments":{}}}` is depth 3, and a batch adds 1.
 * @param text the body decoded as UTF-8.
 * @param maxDepth largest nesting accepted (`ingress.max_json_depth`).
 * @returns {@link BodyRefused} for a parse error, an empty batch or a batch over `maxBatch`;
 *   otherwise {@link BodyParsed} (a non-object, non-array top level is one invalid element).
 */
export function parseBody(text: string, maxDepth: number, opts: ParseBodyOptions = {}): ParsedBody {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
  if (exceedsDepth(text, maxDepth)) {
    return { ok: false, error: rpcError(null, RPC.PARSE_ERROR, `Parse error: JSON nested deeper than ${maxDepth}`) }
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return { ok: false, error: PARSE_ERROR }
  }
  const messages: JsonRpcMessage[] = []
  const invalid: JsonRpcErrorResponse[] = []
  if (!Array.isArray(value)) {
    sort(value, messages, invalid)
    return { ok: true, batch: false, messages, invalid }
  }
  if (value.length === 0) return { ok: false, error: EMPTY_BATCH }
  const maxBatch = opts.maxBatch ?? DEFAULT_MAX_BATCH
  if (value.length > maxBatch) {
    return { ok: false, error: rpcError(null, RPC.INVALID_REQUEST, `Invalid Request: batch of ${value.length} messages exceeds ${maxBatch}`) }
  }
  for (let i = 0; i < value.length; i++) sort(value[i], messages, invalid)
  return { ok: true, batch: true, messages, invalid }
}

function sort(value: unknown, messages: JsonRpcMessage[], invalid: JsonRpcErrorResponse[]): void {
  const problem = problemOf(value)
  if (problem === undefined) messages.push(value as JsonRpcMessage)
  else invalid.push(invalidRequest(value, problem))
}

/**
 * Validates one already-parsed JSON value as a JSON-RPC message (the rules at the top of this
 * file). For messages from providers: a stdio line or an SSE event's `data` after `JSON.parse`.
 * An error response without `id` gets `id: null` (the value is modified in place).
 * @returns the message, or the -32600 error response it earns (with its id when readable).
 */
export function classifyMessage(value: unknown): Classified {
  const problem = problemOf(value)
  return problem === undefined ? { ok: true, message: value as JsonRpcMessage } : { ok: false, error: invalidRequest(value, problem) }
}

/** True when `v` is a valid MCP request id: a string or a safe integer. */
export function isJsonRpcId(v: unknown): v is JsonRpcId {
  return typeof v === 'string' || (typeof v === 'number' && Number.isSafeInteger(v))
}

function invalidRequest(value: unknown, problem: string): JsonRpcErrorResponse {
  const id = isObject(value) && isJsonRpcId(value.id) ? value.id : null
  return rpcError(id, RPC.INVALID_REQUEST, `Invalid Request: ${problem}`)
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Why `v` is not a valid message, or undefined when it is one. */
function problemOf(v: unknown): string | undefined {
  if (!isObject(v)) return 'not a JSON object'
  if (v.jsonrpc !== '2.0') return 'jsonrpc must be "2.0"'
  let members = 1
  if (v.method !== undefined) {
    if (typeof v.method !== 'string') return 'method must be a string'
    members++
    if (v.id !== undefined) {
      if (!isJsonRpcId(v.id)) return 'id must be a string or an integer'
      members++
    }
    if (v.params !== undefined) {
      if (!isObject(v.params)) return 'params must be an object'
      if (v.params._meta !== undefined && !isObject(v.params._meta)) return 'params._meta must be an object'
      members++
    }
    return countMembers(v) === members ? undefined : unexpected(v, ['jsonrpc', 'method', 'id', 'params'])
  }
  if (v.result !== undefined) {
    if (!isJsonRpcId(v.id)) return 'id must be a string or an integer'
    if (!isObject(v.result)) return 'result must be an object'
    return countMembers(v) === 3 ? undefined : unexpected(v, ['jsonrpc', 'id', 'result'])
  }
  if (v.error !== undefined) {
    if (v.id === undefined) v.id = null
    else if (v.id !== null && !isJsonRpcId(v.id)) return 'id must be a string or an integer'
    const e = v.error
    if (!isObject(e)) return 'error must be an object'
    if (typeof e.code !== 'number' || !Number.isSafeInteger(e.code)) return 'error.code must be an integer'
    if (typeof e.message !== 'string') return 'error.message must be a string'
    const errorMembers = e.data === undefined ? 2 : 3
    if (countMembers(e) !== errorMembers) return unexpected(e, ['code', 'message', 'data'], 'error.')
    return countMembers(v) === 3 ? undefined : unexpected(v, ['jsonrpc', 'id', 'error'])
  }
  return 'neither a request, a notification nor a response'
}

function countMembers(o: object): number {
  let n = 0
  for (const _ in o) n++
  return n
}

function unexpected(o: Record<string, unknown>, known: readonly string[], prefix = ''): string {
  for (const k in o) if (!known.includes(k)) return `unexpected member "${prefix}${k.length > 40 ? k.slice(0, 40) + '…' : k}"`
  return 'unexpected member'
}

/**
 * True when the JSON text nests `{`/`[` deeper than `max`, counting brackets outside strings.
 * Linear, no allocation; it reads any text (malformed text is left to `JSON.parse`). For a valid
 * prefix the count equals the nesting `JSON.parse` reaches, so a refused body is never parsed.
 */
export function exceedsDepth(text: string, max: number): boolean {
  const n = text.length
  if (n <= max) return false
  let depth = 0
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x22 /* " */) {
      // Skip the string: the next quote not escaped by an odd run of backslashes.
      let q = text.indexOf('"', i + 1)
      while (q !== -1) {
        let b = q - 1
        while (text.charCodeAt(b) === 0x5c /* \ */) b--
        if ((q - 1 - b) % 2 === 0) break
        q = text.indexOf('"', q + 1)
      }
      if (q === -1) return false
      i = q
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (++depth > max) return true
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      depth--
    }
  }
  return false
}
