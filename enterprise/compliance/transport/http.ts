/**
 * The HTTP transports: Splunk HTTP Event Collector, Elasticsearch `_bulk`, and a signed webhook.
 * Shared rule for an HTTP answer: 2xx is success; 401, 403, 404, 408, 429 and 5xx mean "not now"
 * (a wrong token or URL is fixed by an operator, and the records must wait for it, not be
 * discarded); any other 4xx refuses the batch as invalid ({@link RejectedError}: the sink splits
 * it to find and dead-letter the record at fault).
 */
import { createHmac, randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { Agent, request } from 'undici'
import { RejectedError, TransportError, type ExportRecord, type SendResult, type Transport } from './types.js'

/** Options every HTTP transport takes. */
export interface HttpCommon {
  /** PEM CA bundle verifying the receiver (default: Node's roots). */
  caFile?: string
  /** One request's deadline (connect, send, answer), ms. */
  timeoutMs: number
}

const RETRYABLE_4XX = new Set([401, 403, 404, 408, 429])

/** The record as a JSON value when it is JSON text (jsonl, ocsf), else the text. */
export function recordValue(text: string): unknown {
  if (text.startsWith('{')) {
    try {
      return JSON.parse(text)
    } catch { /* not JSON: send as text */ }
  }
  return text
}

class HttpClient {
  readonly #agent: Agent
  constructor(private readonly o: HttpCommon) {
    this.#agent = new Agent({ connect: { ...(o.caFile && { ca: readFileSync(o.caFile) }), timeout: o.timeoutMs }, headersTimeout: o.timeoutMs, bodyTimeout: o.timeoutMs })
  }

  /**
   * POSTs and reads the answer.
   * @throws TransportError (`connect`, `timeout`, `http_<status>` for a retryable status), RejectedError (other 4xx).
   */
  async post(url: string, headers: Record<string, string>, body: string): Promise<{ status: number; text: string }> {
    let status: number
    let text: string
    try {
      const res = await request(url, { method: 'POST', headers, body, dispatcher: this.#agent, signal: AbortSignal.timeout(this.o.timeoutMs) })
      status = res.statusCode
      text = await res.body.text()
    } catch (err) {
      const e = err as Error & { code?: string }
      const timeout = e.name === 'TimeoutError' || /Timeout/.test(e.code ?? '')
      throw new TransportError(timeout ? 'timeout' : 'connect', `POST ${url}: ${e.message}`)
    }
    if (status >= 200 && status < 300) return { status, text }
    const detail = `POST ${url}: HTTP ${status} ${text.slice(0, 300)}`
    if (status >= 400 && status < 500 && !RETRYABLE_4XX.has(status)) throw new RejectedError(status, detail)
    throw new TransportError(`http_${status}`, detail)
  }

  close(): Promise<void> {
    return this.#agent.close()
  }
}

export interface SplunkHecOptions extends HttpCommon {
  /** Base URL (`/services/collector/event` is appended). */
  url: string
  token: string
  /** Poll `/services/collector/ack` until the batch is indexed. */
  ack: boolean
  channel?: string
  index?: string
  sourcetype?: string
  host: string
  /** Interval of ack polls, ms (default 250). */
  ackPollMs?: number
}

/**
 * Splunk HEC, JSON event endpoint (Splunk Enterprise "Format events for HTTP Event Collector"):
 * the batch is the events' JSON objects one after another, `Authorization: Splunk <token>`. Each
 * event carries the record in `event`, the signal's time in `time` (epoch seconds), and the signal
 * id in the indexed field `fields.signal_id` (the dedup key). With `ack`, the request names a
 * channel (`X-Splunk-Request-Channel`), the answer's `ackId` is polled at `/services/collector/ack`
 * until it is true; a batch not acknowledged within the timeout is sent again.
 */
export class SplunkHecTransport implements Transport {
  readonly name = 'splunk_hec'
  readonly #http: HttpClient
  readonly #channel: string
  readonly #base: string

  constructor(private readonly o: SplunkHecOptions) {
    this.#http = new HttpClient(o)
    this.#channel = o.channel ?? randomUUID()
    this.#base = o.url.replace(/\/+$/, '')
  }

  /** @throws see {@link HttpClient.post}; TransportError `ack_timeout` when the batch was not acknowledged in time. */
  async send(batch: readonly ExportRecord[]): Promise<SendResult> {
    const headers: Record<string, string> = { authorization: `Splunk ${this.o.token}`, 'content-type': 'application/json', 'x-splunk-request-channel': this.#channel }
    const body = batch.map((r) => {
      const v = recordValue(r.text)
      const t = typeof v === 'object' && v !== null && typeof (v as { time?: unknown }).time === 'string' ? Date.parse((v as { time: string }).time) / 1000 : undefined
      return JSON.stringify({
        ...(t !== undefined && Number.isFinite(t) && { time: t }), host: this.o.host, source: 'mcp-hangar',
        ...(this.o.sourcetype && { sourcetype: this.o.sourcetype }), ...(this.o.index && { index: this.o.index }),
        event: v, fields: { signal_id: r.id },
      })
    }).join('\n')
    const res = await this.#http.post(`${this.#base}/services/collector/event`, headers, body)
    if (!this.o.ack) return { rejected: [] }
    let ackId: unknown
    try {
      ackId = (JSON.parse(res.text) as { ackId?: unknown }).ackId
    } catch { /* checked below */ }
    if (typeof ackId !== 'number') throw new TransportError('ack', `HEC answered without an ackId although ack is on (is indexer acknowledgement enabled for this token?): ${res.text.slice(0, 200)}`)
    const deadline = Date.now() + this.o.timeoutMs
    for (;;) {
      const r = await this.#http.post(`${this.#base}/services/collector/ack?channel=${encodeURIComponent(this.#channel)}`, headers, JSON.stringify({ acks: [ackId] }))
      let done = false
      try {
        done = (JSON.parse(r.text) as { acks?: Record<string, boolean> }).acks?.[String(ackId)] === true
      } catch { /* not yet */ }
      if (done) return { rejected: [] }
      if (Date.now() >= deadline) throw new TransportError('ack_timeout', `HEC ack ${ackId} not confirmed within ${this.o.timeoutMs} ms`)
      await new Promise((resolve) => setTimeout(resolve, this.o.ackPollMs ?? 250))
    }
  }

  close(): Promise<void> {
    return this.#http.close()
  }
}

export interface ElasticsearchOptions extends HttpCommon {
  /** Base URL (`/_bulk` is appended). */
  url: string
  index: string
  auth?: { username: string; password: string } | { api_key: string }
}

/**
 * Elasticsearch `_bulk` (Elasticsearch REST API "Bulk API"): one `create` action per record with
 * `_id` = the signal id, so a record sent twice is refused by the index (409) instead of stored
 * twice, and the answer's `items` are read one by one: 2xx and 409 are stored; 429 and 5xx items
 * make the batch be sent again (its stored items then answer 409); any other item status refuses
 * that record for good. A JSON record is the document; another is `{message, signal_id}`.
 */
export class ElasticsearchTransport implements Transport {
  readonly name = 'elasticsearch'
  readonly #http: HttpClient
  readonly #auth: string | undefined

  constructor(private readonly o: ElasticsearchOptions) {
    this.#http = new HttpClient(o)
    const a = o.auth
    this.#auth = a === undefined ? undefined : 'api_key' in a ? `ApiKey ${a.api_key}` : `Basic ${Buffer.from(`${a.username}:${a.password}`).toString('base64')}`
  }

  /** @throws see {@link HttpClient.post}; TransportError `item_<status>` when an item must be retried. */
  async send(batch: readonly ExportRecord[]): Promise<SendResult> {
    let body = ''
    for (const r of batch) {
      const v = recordValue(r.text)
      body += JSON.stringify({ create: { _index: this.o.index, _id: r.id } }) + '\n' + JSON.stringify(typeof v === 'object' && v !== null ? v : { message: r.text, signal_id: r.id }) + '\n'
    }
    const res = await this.#http.post(`${this.o.url.replace(/\/+$/, '')}/_bulk`, { 'content-type': 'application/x-ndjson', ...(this.#auth && { authorization: this.#auth }) }, body)
    let items: { create?: { status?: number; error?: { type?: string; reason?: string } } }[]
    try {
      items = (JSON.parse(res.text) as { items: typeof items }).items
    } catch {
      throw new TransportError('bad_answer', `_bulk answered something that is not a bulk response: ${res.text.slice(0, 200)}`)
    }
    if (!Array.isArray(items) || items.length !== batch.length) throw new TransportError('bad_answer', `_bulk answered ${Array.isArray(items) ? items.length : 'no'} items for ${batch.length} actions`)
    const rejected: SendResult['rejected'] = []
    let retry: string | undefined
    items.forEach((it, index) => {
      const st = it.create?.status ?? 0
      if ((st >= 200 && st < 300) || st === 409) return
      const why = `${st} ${it.create?.error?.type ?? ''}: ${it.create?.error?.reason ?? ''}`.trim()
      if (st === 429 || st >= 500 || st === 0) retry ??= `item_${st}: ${why}`
      else rejected.push({ index, reason: `Elasticsearch refused the document: ${why}` })
    })
    if (retry) throw new TransportError(retry.slice(0, retry.indexOf(':')), `_bulk: ${retry}`)
    return { rejected }
  }

  close(): Promise<void> {
    return this.#http.close()
  }
}

export interface WebhookOptions extends HttpCommon {
  url: string
  /** HMAC-SHA256 key. */
  secret: string
}

/** `X-Hangar-Signature` value for a body: `sha256=<lower-case hex HMAC-SHA256(secret, body)>`. */
export function webhookSignature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`
}

/**
 * The webhook: one HTTPS POST per batch, body `{"records":[{"id","seq","record"}]}` (`record` the
 * JSON value for JSON formats, else the text), `Content-Type: application/json`, and
 * `X-Hangar-Signature: sha256=<hex>`, the HMAC-SHA256 of the exact body bytes under the secret
 * (the receiver recomputes it and compares in constant time).
 */
export class WebhookTransport implements Transport {
  readonly name = 'webhook'
  readonly #http: HttpClient

  constructor(private readonly o: WebhookOptions) {
    this.#http = new HttpClient(o)
  }

  /** @throws see {@link HttpClient.post}. */
  async send(batch: readonly ExportRecord[]): Promise<SendResult> {
    const body = JSON.stringify({ records: batch.map((r) => ({ id: r.id, seq: r.seq, record: recordValue(r.text) })) })
    await this.#http.post(this.o.url, { 'content-type': 'application/json', 'x-hangar-signature': webhookSignature(this.o.secret, body) }, body)
    return { rejected: [] }
  }

  close(): Promise<void> {
    return this.#http.close()
  }
}
