/**
 * One HTTP POST of a signal batch to the aggregator (`POST <url>/v1/signals`, body
 * `{"signals":[…]}`, bearer token), with a whole-request timeout, classified by
 * signals/shipper-policy.ts. Used by signals/shipper.ts, one request in flight at a time.
 */
import { Pool, type Dispatcher } from 'undici'
import { classifyError, classifyResponse, type DeliveryOutcome } from './shipper-policy.js'

/** Bytes of the empty envelope `{"signals":[]}` around the batch's lines. */
export const ENVELOPE_BYTES = '{"signals":[]}'.length
/** Most bytes of an answer read (the rest is discarded). */
const RESPONSE_BODY_MAX = 64 * 1024

/** Where batches go: the aggregator's origin and the path of its signal endpoint. */
export interface SignalTarget {
  origin: string
  /** `<url path without trailing slashes>/v1/signals`. */
  path: string
}

/**
 * The signal endpoint of an aggregator base URL (`aggregator.url`, http or https, may carry a path
 * prefix): `<url>/v1/signals`.
 * @throws RangeError for a URL that is not http(s); TypeError (from `new URL`) for one that does not parse
 */
export function signalTarget(url: string): SignalTarget {
  const u = new URL(url)
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new RangeError(`aggregator url must be http or https: ${url}`)
  return { origin: u.origin, path: `${u.pathname.replace(/\/+$/, '')}/v1/signals` }
}

/** Options of {@link SignalPoster}. */
export interface SignalPosterOptions {
  /** From {@link signalTarget}. */
  target: SignalTarget
  /** Bearer token; undefined = none. */
  token?: string
  /** Whole-request timeout (connect, send, response body), ms. */
  requestTimeoutMs: number
  /** HTTP client; default an undici Pool of one connection to the URL's origin, closed by {@link SignalPoster.close}. */
  dispatcher?: Dispatcher
}

/** Posts batches to one aggregator. */
export class SignalPoster {
  readonly #origin: string
  readonly #path: string
  readonly #token: string | undefined
  readonly #timeoutMs: number
  readonly #pool: Dispatcher
  readonly #ownPool: boolean
  #inflight: AbortController | undefined

  constructor(opts: SignalPosterOptions) {
    this.#origin = opts.target.origin
    this.#path = opts.target.path
    this.#token = opts.token
    this.#timeoutMs = opts.requestTimeoutMs
    this.#ownPool = !opts.dispatcher
    this.#pool = opts.dispatcher ?? new Pool(this.#origin, {
      connections: 1,
      pipelining: 1,
      connectTimeout: Math.min(opts.requestTimeoutMs, 10_000),
      headersTimeout: opts.requestTimeoutMs,
      bodyTimeout: opts.requestTimeoutMs,
      keepAliveTimeout: 30_000,
    })
  }

  /**
   * POSTs one batch of JSON lines and classifies the answer.
   * @returns the outcome (signals/shipper-policy.ts); a network error, the timeout or
   *   {@link abort} give `retry`. Never throws.
   */
  async post(lines: string[]): Promise<DeliveryOutcome> {
    const ac = new AbortController()
    this.#inflight = ac
    const timer = setTimeout(() => ac.abort(), this.#timeoutMs)
    try {
      const res = await this.#pool.request({
        origin: this.#origin,
        path: this.#path,
        method: 'POST',
        headers: { ...(this.#token !== undefined && { authorization: `Bearer ${this.#token}` }), 'content-type': 'application/json' },
        body: `{"signals":[${lines.join(',')}]}`,
        signal: ac.signal,
      })
      const text = await readCapped(res.body, RESPONSE_BODY_MAX)
      const ra = res.headers['retry-after']
      return classifyResponse(res.statusCode, text, lines.length, Array.isArray(ra) ? ra[0] : ra, Date.now())
    } catch (err) {
      const reason = classifyError(err)
      return { kind: 'retry', reason, message: reason === 'timeout' ? `no answer from the aggregator within ${this.#timeoutMs} ms` : `aggregator unreachable: ${(err as Error).message}` }
    } finally {
      clearTimeout(timer)
      this.#inflight = undefined
    }
  }

  /** Aborts the request in flight, if any (it answers `retry`). */
  abort(): void {
    this.#inflight?.abort()
  }

  /** Closes the pool this poster created (a dispatcher passed in is the caller's). */
  async close(): Promise<void> {
    if (this.#ownPool) await this.#pool.close().catch(() => this.#pool.destroy())
  }
}

/** Reads a response body up to `max` bytes (the rest is discarded). */
async function readCapped(body: Dispatcher.ResponseData['body'], max: number): Promise<string> {
  const parts: Buffer[] = []
  let n = 0
  for await (const chunk of body) {
    const b = chunk as Buffer
    if (n < max) parts.push(b.subarray(0, max - n))
    n += b.length
  }
  return Buffer.concat(parts).toString('utf8')
}
