/**
 * SIEM receivers for the export tests, on 127.0.0.1: a webhook endpoint that checks the
 * `X-Hangar-Signature` HMAC, a Splunk HTTP Event Collector (`/services/collector/event` and
 * `/services/collector/ack`, token auth, channels, ack ids, the documented error answers), and an
 * Elasticsearch `_bulk` endpoint (create actions, 409 on an existing `_id`, per-item errors).
 * Each records what it accepted by signal id, and can be told to fail or refuse.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** Controls shared by the receivers. */
export interface Receiver {
  url: string
  /** Signal ids accepted, in arrival order (with repeats, if any were sent twice). */
  ids: string[]
  /** Records accepted (parsed JSON where it was JSON). */
  records: unknown[]
  /** Requests seen. */
  requests: number
  /** Answer this status to every request while set (e.g. 503). */
  failWith: number | undefined
  /** Wait this long before handling each request, ms (a slow receiver). */
  delayMs: number
  /** A batch holding a record with one of these ids is refused (400) / that item refused (ES). */
  poison: Set<string>
  close(): Promise<void>
}

function body(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

function json(res: ServerResponse, status: number, o: unknown): void {
  const text = JSON.stringify(o)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

async function serve(handler: (req: IncomingMessage, res: ServerResponse, text: string, r: Receiver) => void): Promise<Receiver> {
  const r: Receiver = { url: '', ids: [], records: [], requests: 0, failWith: undefined, delayMs: 0, poison: new Set(), close: async () => {} }
  const server: Server = createServer((req, res) => {
    body(req).then(async (text) => {
      if (r.delayMs) await new Promise((resolve) => setTimeout(resolve, r.delayMs))
      r.requests++
      if (r.failWith !== undefined) return json(res, r.failWith, { error: 'failing on purpose' })
      handler(req, res, text, r)
    }, () => res.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  r.close = () => new Promise<void>((resolve) => {
    server.close(() => resolve())
    server.closeAllConnections()
  })
  return r
}

/** A webhook receiver: 401 when the signature does not verify, 400 for a batch with a poison id. */
export function webhookReceiver(secret: string): Promise<Receiver & { badSignatures: number }> {
  const extra = { badSignatures: 0 }
  return serve((req, res, text, r) => {
    const want = Buffer.from(`sha256=${createHmac('sha256', secret).update(text).digest('hex')}`)
    const got = Buffer.from(String(req.headers['x-hangar-signature'] ?? ''))
    if (got.length !== want.length || !timingSafeEqual(got, want)) {
      (r as Receiver & typeof extra).badSignatures++
      return json(res, 401, { error: 'bad signature' })
    }
    const b = JSON.parse(text) as { records: { id: string; record: unknown }[] }
    if (b.records.some((x) => r.poison.has(x.id))) return json(res, 400, { error: 'invalid record' })
    for (const x of b.records) {
      r.ids.push(x.id)
      r.records.push(x.record)
    }
    json(res, 200, { ok: true })
  }).then((r) => Object.assign(r, extra))
}

/**
 * A Splunk HEC receiver (Splunk docs, "HTTP Event Collector REST API endpoints"):
 * `POST /services/collector/event` with `Authorization: Splunk <token>` and concatenated JSON
 * events → `{"text":"Success","code":0}` (+ `ackId` when the channel header is sent and `ack` is
 * on); no/invalid token → 401 `{"text":"Token is required","code":2}` / 403 `{"text":"Invalid token","code":4}`;
 * an event without `event` → 400 `{"text":"Event field is required","code":12,"invalid-event-number":n}`;
 * `POST /services/collector/ack?channel=…` `{"acks":[…]}` → `{"acks":{"<id>":true|false}}`
 * (acks turn true after `ackDelayPolls` polls).
 */
export function hecReceiver(token: string, o: { ack?: boolean; ackDelayPolls?: number } = {}): Promise<Receiver & { acksPolled: number; channels: Set<string> }> {
  const extra = { acksPolled: 0, channels: new Set<string>() }
  let nextAck = 0
  const polls = new Map<number, number>()
  return serve((req, res, text, r) => {
    const auth = String(req.headers.authorization ?? '')
    const x = r as Receiver & typeof extra
    if (!auth) return json(res, 401, { text: 'Token is required', code: 2 })
    if (auth !== `Splunk ${token}`) return json(res, 403, { text: 'Invalid token', code: 4 })
    const url = new URL(req.url ?? '/', 'http://x')
    if (url.pathname === '/services/collector/ack') {
      x.acksPolled++
      const acks = (JSON.parse(text) as { acks: number[] }).acks
      const out: Record<string, boolean> = {}
      for (const a of acks) {
        const n = (polls.get(a) ?? 0) + 1
        polls.set(a, n)
        out[String(a)] = n > (o.ackDelayPolls ?? 0)
      }
      return json(res, 200, { acks: out })
    }
    // The event endpoint under its three documented paths (splunk-logging posts to .../event/1.0).
    if (!['/services/collector/event', '/services/collector/event/1.0', '/services/collector'].includes(url.pathname)) return json(res, 404, { text: 'The requested URL was not found on this server.', code: 404 })
    const events: Record<string, unknown>[] = []
    // Concatenated JSON objects: parse one after another.
    let rest = text.trim()
    while (rest.length) {
      let depth = 0, inStr = false, esc = false, end = -1
      for (let i = 0; i < rest.length; i++) {
        const c = rest[i]
        if (inStr) { if (esc) esc = false; else if (c === '\\') esc = true; else if (c === '"') inStr = false; continue }
        if (c === '"') inStr = true
        else if (c === '{') depth++
        else if (c === '}' && --depth === 0) { end = i + 1; break }
      }
      if (end < 0) return json(res, 400, { text: 'Invalid data format', code: 6, 'invalid-event-number': events.length })
      events.push(JSON.parse(rest.slice(0, end)) as Record<string, unknown>)
      rest = rest.slice(end).trim()
    }
    for (let i = 0; i < events.length; i++) {
      if (!('event' in events[i]!)) return json(res, 400, { text: 'Event field is required', code: 12, 'invalid-event-number': i })
      const id = (events[i]!.fields as { signal_id?: string } | undefined)?.signal_id
      if (id && r.poison.has(id)) return json(res, 400, { text: 'Invalid data format', code: 6, 'invalid-event-number': i })
    }
    for (const e of events) {
      const id = (e.fields as { signal_id?: string } | undefined)?.signal_id
      if (id !== undefined) r.ids.push(id)
      r.records.push(e)
    }
    const channel = req.headers['x-splunk-request-channel']
    if (o.ack) {
      if (!channel) return json(res, 400, { text: 'Data channel is missing', code: 10 })
      extra.channels.add(String(channel))
      return json(res, 200, { text: 'Success', code: 0, ackId: nextAck++ })
    }
    json(res, 200, { text: 'Success', code: 0 })
  }).then((r) => Object.assign(r, extra))
}

/**
 * An Elasticsearch `_bulk` receiver (Elasticsearch docs, "Bulk API"): NDJSON action/source pairs;
 * `create` with an `_id` already stored → item 409 `version_conflict_engine_exception`; a poison id
 * → item 400 `mapper_parsing_exception`; answer `{took, errors, items:[{create:{_index,_id,status,error?}}]}`.
 * `itemStatus` forces a status for the next items (e.g. 429) once.
 */
export function bulkReceiver(): Promise<Receiver & { docs: Map<string, unknown>; conflicts: number; forceOnce: number | undefined; auth: string[] }> {
  const extra = { docs: new Map<string, unknown>(), conflicts: 0, forceOnce: undefined as number | undefined, auth: [] as string[] }
  return serve((req, res, text, r) => {
    extra.auth.push(String(req.headers.authorization ?? ''))
    // Elasticsearch names itself on every answer; its clients refuse a server that does not.
    res.setHeader('x-elastic-product', 'Elasticsearch')
    const url = new URL(req.url ?? '/', 'http://x')
    if (req.method === 'GET' && url.pathname === '/') return json(res, 200, { name: 'test', cluster_name: 'test', version: { number: '8.15.0', build_flavor: 'default' }, tagline: 'You Know, for Search' })
    if (!/^\/(?:[^/]+\/)?_bulk$/.test(url.pathname) || req.method !== 'POST') return json(res, 404, { error: 'no handler' })
    if (!String(req.headers['content-type']).includes('json')) return json(res, 406, { error: 'Content-Type header is not supported' })
    const lines = text.split('\n').filter((l) => l.length)
    const items: unknown[] = []
    let errors = false
    const x = r as Receiver & typeof extra
    const force = x.forceOnce
    x.forceOnce = undefined
    for (let i = 0; i < lines.length; i += 2) {
      const action = JSON.parse(lines[i]!) as Record<string, { _index?: string; _id?: string }>
      const [op, meta] = Object.entries(action)[0]!
      const doc = JSON.parse(lines[i + 1]!) as unknown
      const id = meta._id!
      const index = meta._index ?? url.pathname.split('/')[1]
      if (force !== undefined) {
        errors = true
        items.push({ [op]: { _index: index, _id: id, status: force, error: { type: 'es_rejected_execution_exception', reason: 'rejected execution' } } })
      } else if (r.poison.has(id)) {
        errors = true
        items.push({ [op]: { _index: index, _id: id, status: 400, error: { type: 'mapper_parsing_exception', reason: 'failed to parse field [details]' } } })
      } else if (op === 'create' && extra.docs.has(id)) {
        errors = true
        x.conflicts++
        items.push({ [op]: { _index: index, _id: id, status: 409, error: { type: 'version_conflict_engine_exception', reason: `[${id}]: version conflict, document already exists` } } })
      } else {
        extra.docs.set(id, doc)
        r.ids.push(id)
        r.records.push(doc)
        items.push({ [op]: { _index: index, _id: id, _version: 1, result: 'created', status: 201 } })
      }
    }
    json(res, 200, { took: 1, errors, items })
  }).then((r) => Object.assign(r, extra))
}
