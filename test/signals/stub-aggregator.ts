// A minimal test double of the aggregator's POST /v1/signals contract (docs/aggregator.md §API) on loopback:
// bearer token, 1 MiB body limit (413), the shared validator, dedup by id, 202
// {accepted, duplicates, rejected}. Records every id it received (duplicates included) and every
// request. `respond` overrides the answer per request (503, 401, rejections…).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { validateBatch } from '../../signals/validate.js'
import type { Signal } from '../../signals/types.js'

export interface StubAnswer {
  status: number
  body?: unknown
  headers?: Record<string, string>
}

export interface StubRequest {
  authorization: string | undefined
  contentType: string | undefined
  bytes: number
  signals: number
  status: number
}

export class StubAggregator {
  /** Ids in arrival order, duplicates included (stored or not). */
  readonly received: string[] = []
  /** Ids stored (first arrival of each). */
  readonly stored: string[] = []
  readonly requests: StubRequest[] = []
  /** Called for each well-formed batch before the default answer; return an answer to override it. */
  respond: ((signals: Signal[], req: IncomingMessage) => StubAnswer | undefined) | undefined
  /** Per-signal rejection (the aggregator's validation error) in the default answer. */
  reject: ((s: Signal) => string | undefined) | undefined
  /** The accepted bearer token (an operator may change it). */
  token: string
  readonly #seen = new Set<string>()
  readonly #maxBody: number
  #server: Server | undefined
  port = 0

  constructor(opts: { token?: string; maxBody?: number } = {}) {
    this.token = opts.token ?? 'signal-token'
    this.#maxBody = opts.maxBody ?? 1024 * 1024
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`
  }

  /** Duplicated ids received (at-least-once resends). */
  get duplicates(): number {
    return this.received.length - this.stored.length
  }

  /** Listens on `port` (0 = a free one; reuse the old port to "restart" the aggregator). */
  async start(port = this.port): Promise<number> {
    const server = createServer((req, res) => void this.#handle(req, res))
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => resolve())
    })
    this.#server = server
    this.port = (server.address() as AddressInfo).port
    return this.port
  }

  async stop(): Promise<void> {
    const s = this.#server
    this.#server = undefined
    if (!s) return
    s.closeAllConnections()
    await new Promise<void>((resolve) => s.close(() => resolve()))
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    let bytes = 0
    for await (const c of req) {
      bytes += (c as Buffer).length
      if (bytes <= this.#maxBody) chunks.push(c as Buffer)
    }
    const log = (status: number, signals = 0) =>
      this.requests.push({ authorization: req.headers.authorization, contentType: req.headers['content-type'], bytes, signals, status })
    const send = (a: StubAnswer, signals = 0) => {
      log(a.status, signals)
      res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers })
      res.end(a.body === undefined ? '' : JSON.stringify(a.body))
    }
    if (req.method !== 'POST' || req.url !== '/v1/signals') return send({ status: 404, body: { error: 'not found' } })
    if (req.headers.authorization !== `Bearer ${this.token}`) return send({ status: 401, body: { error: 'bad token' } })
    if (bytes > this.#maxBody) return send({ status: 413, body: { error: 'body over 1 MiB' } })
    let body: unknown
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
    } catch {
      return send({ status: 400, body: { error: 'invalid JSON' } })
    }
    const v = validateBatch(body)
    if (!v.ok) return send({ status: 400, body: { error: v.error } })
    const override = this.respond?.(v.signals, req)
    if (override) return send(override, v.signals.length)
    let accepted = 0
    let duplicates = 0
    const rejected = [...v.rejected]
    for (const [k, s] of v.signals.entries()) {
      const why = this.reject?.(s)
      if (why !== undefined) {
        rejected.push({ index: v.indices[k] as number, error: why })
        continue
      }
      this.received.push(s.id)
      if (this.#seen.has(s.id)) duplicates++
      else {
        this.#seen.add(s.id)
        this.stored.push(s.id)
        accepted++
      }
    }
    send({ status: 202, body: { accepted, duplicates, rejected } }, v.signals.length + v.rejected.length)
  }
}

/** Resolves when `pred` holds, polling every 10 ms; rejects after `timeoutMs`. */
export async function until(pred: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}
