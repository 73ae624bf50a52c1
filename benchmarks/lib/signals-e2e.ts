/**
 * End to end, decision → audit log: the runner makes denied decisions at the real sidecar at a
 * fixed rate (open loop), each with a host of its own (`n<i>.<label>.denied.test`), and reads the
 * aggregator's `GET /v1/signals/stream` (SSE, admin token). The aggregator hands a signal to its
 * streams only once its batch is appended and fsynced (aggregator/store/store.ts), so an event's
 * arrival is a moment after the signal was durable in the audit log. Latency = event arrival −
 * the moment the runner sent the decision's query (an upper bound on decision → audit: it also
 * holds the query's own round trip, well under a millisecond on loopback).
 *
 * Decisions: a DNS query for the host (answered NXDOMAIN: `dns_denied`) or a `CONNECT host:443`
 * to the forward proxy (answered 403: `egress_denied`). Denials are never sampled (egress/signals.ts).
 */
import dgram from 'node:dgram'
import net from 'node:net'
import { createParser } from 'eventsource-parser'
import { Agent, request } from 'undici'
import type { DecisionKind } from './signals-options.js'
import { percentile } from './stats.js'

/** The parent domain of every measured decision (outside the sidecar's allowlist). */
export const DENIED_DOMAIN = 'denied.test'

/** One arrival of a signal on the stream. */
export type OnStreamSignal = (host: string | undefined, at: number) => void

/**
 * A resumable reader of `GET /v1/signals/stream`: reconnects with `Last-Event-ID` when the
 * aggregator closes a lagging stream, so no event is missed or repeated by the reader itself.
 */
export class SignalStream {
  #lastId = '0'
  #stopped = false
  #abort = new AbortController()
  readonly #agent = new Agent({ bodyTimeout: 0, headersTimeout: 10_000 })
  #connected!: () => void
  /** Resolves once the first connection answered 200. */
  readonly connected = new Promise<void>((r) => (this.#connected = r))
  /** Events received; reconnections made. */
  events = 0
  reconnects = 0
  #loop: Promise<void>

  constructor(
    readonly url: string,
    readonly token: string,
    readonly onSignal: OnStreamSignal,
  ) {
    this.#loop = this.#run()
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      try {
        const res = await request(this.url, {
          dispatcher: this.#agent,
          headers: { authorization: `Bearer ${this.token}`, accept: 'text/event-stream', 'last-event-id': this.#lastId },
          signal: this.#abort.signal,
        })
        if (res.statusCode !== 200) throw new Error(`GET ${this.url} answered ${res.statusCode}: ${(await res.body.text()).slice(0, 200)}`)
        this.#connected()
        const parser = createParser({
          onEvent: (ev) => {
            const at = performance.now()
            if (ev.id !== undefined) this.#lastId = ev.id
            this.events++
            let host: string | undefined
            try {
              host = (JSON.parse(ev.data) as { destination?: { host?: string } }).destination?.host
            } catch {
              host = undefined
            }
            this.onSignal(host, at)
          },
        })
        const utf8 = new TextDecoder()
        for await (const chunk of res.body) parser.feed(utf8.decode(chunk as Buffer, { stream: true }))
      } catch (err) {
        if (this.#stopped) return
        if ((err as Error).message.includes('answered')) throw err
      }
      if (!this.#stopped) {
        this.reconnects++
        await new Promise((r) => setTimeout(r, 50))
      }
    }
  }

  async close(): Promise<void> {
    this.#stopped = true
    this.#abort.abort()
    await this.#loop.catch(() => {})
    await this.#agent.close()
  }
}

/** `n<i>.<label>.denied.test`. */
export function hostOf(i: number, label: string): string {
  return `n${i}.${label}.${DENIED_DOMAIN}`
}

/** The decision index of a host made by {@link hostOf} with `label`, or -1. */
export function indexOf(host: string | undefined, label: string): number {
  if (!host || !host.endsWith(`.${label}.${DENIED_DOMAIN}`) || host[0] !== 'n') return -1
  const i = Number(host.slice(1, host.indexOf('.')))
  return Number.isSafeInteger(i) && i >= 0 ? i : -1
}

/** A DNS query (A, IN, RD) for `name` with message id `id`. */
export function dnsQuery(id: number, name: string): Buffer {
  const labels = name.split('.')
  const b = Buffer.alloc(12 + labels.reduce((a, l) => a + l.length + 1, 0) + 1 + 4)
  b.writeUInt16BE(id & 0xffff, 0)
  b.writeUInt16BE(0x0100, 2) // RD
  b.writeUInt16BE(1, 4) // QDCOUNT
  let o = 12
  for (const l of labels) {
    b[o++] = l.length
    o += b.write(l, o, 'latin1')
  }
  b[o++] = 0
  b.writeUInt16BE(1, o) // A
  b.writeUInt16BE(1, o + 2) // IN
  return b
}

/** The RCODE and the question name of a DNS answer, or null when it is not one. */
export function parseAnswer(msg: Buffer): { rcode: number; name: string } | null {
  if (msg.length < 12 || (msg[2]! & 0x80) === 0 || msg.readUInt16BE(4) < 1) return null
  const parts: string[] = []
  let o = 12
  while (o < msg.length) {
    const len = msg[o++]!
    if (len === 0) return { rcode: msg[3]! & 0x0f, name: parts.join('.') }
    if (len > 63 || o + len > msg.length) return null
    parts.push(msg.toString('latin1', o, o + len))
    o += len
  }
  return null
}

/** Sends `count` decisions at `rate` per second: `send(i)` for i = 0…count−1, on time (a 1 ms tick). */
export function paced(rate: number, count: number, send: (i: number) => void): Promise<number> {
  const start = performance.now()
  let i = 0
  return new Promise((resolve) => {
    const tick = () => {
      const due = Math.min(count, Math.floor(((performance.now() - start) * rate) / 1000) + 1)
      while (i < due) send(i++)
      if (i >= count) resolve((performance.now() - start) / 1000)
      else setTimeout(tick, 1)
    }
    tick()
  })
}

/** Times of one load's decisions (performance.now(), ms; NaN = never). */
export interface DecisionTimes {
  sent: Float64Array
  answered: Float64Array
  /** Decisions the sidecar refused as expected (NXDOMAIN, 403). */
  denied: number
  /** Answers that were not the expected refusal, and transport errors; the first one. */
  unexpected: number
  firstUnexpected?: string
}

function newTimes(count: number): DecisionTimes {
  return { sent: new Float64Array(count).fill(NaN), answered: new Float64Array(count).fill(NaN), denied: 0, unexpected: 0 }
}

const RCODE_NXDOMAIN = 3

/** Denied DNS queries to the sidecar's DNS listener. */
async function dnsDecisions(port: number, label: string, rate: number, count: number): Promise<{ times: DecisionTimes; sendS: number }> {
  const t = newTimes(count)
  const sock = dgram.createSocket('udp4')
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()))
  sock.setRecvBufferSize(8 * 1024 * 1024)
  sock.on('message', (msg) => {
    const at = performance.now()
    const a = parseAnswer(msg)
    const i = a ? indexOf(a.name, label) : -1
    if (i < 0 || !a) return
    if (!Number.isNaN(t.answered[i]!)) return
    t.answered[i] = at
    if (a.rcode === RCODE_NXDOMAIN) t.denied++
    else {
      t.unexpected++
      t.firstUnexpected ??= `${a.name}: rcode ${a.rcode}`
    }
  })
  const sendS = await paced(rate, count, (i) => {
    t.sent[i] = performance.now()
    sock.send(dnsQuery(i, hostOf(i, label)), port, '127.0.0.1')
  })
  await settle(() => t.denied + t.unexpected >= count, 5000)
  sock.close()
  return { times: t, sendS }
}

/** Denied CONNECTs to the sidecar's forward proxy. */
async function connectDecisions(port: number, label: string, rate: number, count: number): Promise<{ times: DecisionTimes; sendS: number }> {
  const t = newTimes(count)
  const sendS = await paced(rate, count, (i) => {
    t.sent[i] = performance.now()
    const host = hostOf(i, label)
    const s = net.connect({ host: '127.0.0.1', port })
    let done = false
    const finish = (status: string | undefined, err?: string) => {
      if (done) return
      done = true
      t.answered[i] = performance.now()
      if (status === '403') t.denied++
      else {
        t.unexpected++
        t.firstUnexpected ??= `${host}: ${err ?? `status ${status}`}`
      }
      s.destroy()
    }
    s.setTimeout(10_000, () => finish(undefined, 'timeout'))
    s.once('connect', () => s.write(`CONNECT ${host}:443 HTTP/1.1\r\nHost: ${host}:443\r\n\r\n`))
    s.once('data', (b: Buffer) => finish(/^HTTP\/1\.[01] (\d{3})/.exec(b.toString('latin1'))?.[1]))
    s.once('error', (e) => finish(undefined, e.message))
    s.once('close', () => finish(undefined, 'closed without an answer'))
  })
  await settle(() => t.denied + t.unexpected >= count, 15_000)
  return { times: t, sendS }
}

/** Waits until `done()` or `timeoutMs`. */
async function settle(done: () => boolean, timeoutMs: number): Promise<void> {
  const end = performance.now() + timeoutMs
  while (!done() && performance.now() < end) await new Promise((r) => setTimeout(r, 20))
}

/** One end-to-end load. */
export interface E2eRun {
  via: DecisionKind
  /** Decisions per second asked for, and achieved by the sender. */
  rate: number
  sentRate: number
  decisions: number
  /** Decisions answered with the expected refusal (NXDOMAIN / 403). */
  denied: number
  unexpected: number
  firstUnexpected?: string
  /** Denied decisions whose signal reached the stream, once. */
  delivered: number
  /** Denied decisions whose signal never arrived (within the settle time). */
  missing: number
  /** Stream events repeating a decision already seen. */
  duplicates: number
  /** Signals for decisions whose answer the runner did not see (lost answer): made, delivered, not timed. */
  extra: number
  /** Decision (query sent) → signal durable and streamed, ms. */
  p50Ms: number
  p99Ms: number
  maxMs: number
  /** The same from the moment the refusal reached the runner. */
  p99FromAnswerMs: number
  /** Last decision sent → last signal streamed, ms. */
  drainMs: number
  sidecarCpu: number | undefined
  aggregatorCpu: number | undefined
  /** From the audit log: decisions stored once / more than once / refused but never stored. */
  audit: { once: number; more: number; never: number }
}

/** What an e2e load needs; `label` makes its hosts unique in the aggregator's history. */
export interface E2eLoadRun {
  via: DecisionKind
  rate: number
  count: number
  label: string
  dnsPort: number
  proxyPort: number
  /** Arrivals of this label's hosts are routed here by the caller's stream. */
  arrivals: { on?: OnStreamSignal }
  /** Longest wait for the last signals after the last decision, ms. */
  settleMs: number
  /** How often each host ending in `suffix` is in the audit log (lib/signals-audit.ts hostCounts). */
  auditCounts: (suffix: string) => Promise<Map<string, number>>
  cpu: { sidecar: () => number | undefined; aggregator: () => number | undefined }
}

/** Runs one load and matches every decision to its streamed signal. */
export async function e2eRun(o: E2eLoadRun): Promise<E2eRun> {
  const arrived = new Float64Array(o.count).fill(NaN)
  let duplicates = 0
  let lastArrival = NaN
  let arrivals = 0
  o.arrivals.on = (host, at) => {
    const i = indexOf(host, o.label)
    if (i < 0 || i >= o.count) return
    if (!Number.isNaN(arrived[i]!)) {
      duplicates++
      return
    }
    arrived[i] = at
    arrivals++
    lastArrival = at
  }
  const cpu0 = { s: o.cpu.sidecar(), a: o.cpu.aggregator() }
  const t0 = performance.now()
  const { times, sendS } = o.via === 'dns'
    ? await dnsDecisions(o.dnsPort, o.label, o.rate, o.count)
    : await connectDecisions(o.proxyPort, o.label, o.rate, o.count)
  const lastSent = times.sent.reduce((a, x) => (x > a ? x : a), 0)
  // Every refused decision must arrive; wait for them (and a little more, to see duplicates).
  await settle(() => arrivals >= times.denied + times.unexpected, o.settleMs)
  await new Promise((r) => setTimeout(r, 500))
  const wall = (performance.now() - t0) / 1000
  const cpu1 = { s: o.cpu.sidecar(), a: o.cpu.aggregator() }
  o.arrivals.on = undefined
  const lat: number[] = []
  const latAnswer: number[] = []
  let delivered = 0
  let missing = 0
  let extra = 0
  for (let i = 0; i < o.count; i++) {
    const a = arrived[i]!
    const answered = !Number.isNaN(times.answered[i]!)
    if (Number.isNaN(a)) {
      if (answered) missing++
      continue
    }
    if (!answered) {
      extra++
      continue
    }
    delivered++
    lat.push(a - times.sent[i]!)
    latAnswer.push(a - times.answered[i]!)
  }
  lat.sort((x, y) => x - y)
  latAnswer.sort((x, y) => x - y)
  const counts = await o.auditCounts(`.${o.label}.${DENIED_DOMAIN}`)
  const audit = { once: 0, more: 0, never: 0 }
  for (let i = 0; i < o.count; i++) {
    const c = counts.get(hostOf(i, o.label)) ?? 0
    if (c === 1) audit.once++
    else if (c > 1) audit.more++
    else if (!Number.isNaN(times.answered[i]!)) audit.never++
  }
  const d = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined ? (b - a) / wall : undefined)
  return {
    via: o.via,
    rate: o.rate,
    sentRate: o.count / sendS,
    decisions: o.count,
    denied: times.denied,
    unexpected: times.unexpected,
    ...(times.firstUnexpected !== undefined && { firstUnexpected: times.firstUnexpected }),
    delivered,
    missing,
    duplicates,
    extra,
    p50Ms: percentile(lat, 0.5),
    p99Ms: percentile(lat, 0.99),
    maxMs: lat[lat.length - 1] ?? NaN,
    p99FromAnswerMs: percentile(latAnswer, 0.99),
    drainMs: lastArrival - lastSent,
    sidecarCpu: d(cpu0.s, cpu1.s),
    aggregatorCpu: d(cpu0.a, cpu1.a),
    audit,
  }
}
