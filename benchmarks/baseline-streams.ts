/**
 * Event streams of the baseline benchmark (benchmarks/baseline.ts): deterministic (seeded), fed
 * to anything shaped like {@link BaselineRecorder}'s input methods, one recorder call per event.
 *
 * - {@link RealisticStream}: a provider at work — 30 destinations, 40 DNS names (3 of them
 *   denied), 12 tools with a few argument keys; DNS repeats answered from a modelled forwarder
 *   cache (TTL 60 s) go through `dnsHit`, misses through `dnsQuery` + `dnsAnswer`; tunnels with
 *   content and bytes; tool calls, refusals, listings (one tool drifts once). The clock advances
 *   21.6 ms per event (1,000,000 events ≈ 6 h).
 * - {@link AdversarialStream}: junk — most events name a destination, DNS name or tool never seen
 *   before; the rest grow what the recorder already keeps (new addresses, QTYPEs, answer types,
 *   argument keys, digests) or name keys the recorder never saw (ignored by it). The clock
 *   advances 200 ms per event (1,000,000 events ≈ 55 h: more than `rate_minutes` minutes).
 * - {@link NaiveBaseline}: the reference without limits — the same records in plain Maps, every
 *   key and every inner value kept.
 *
 * Junk strings are built in a reused Buffer and decoded (`toString`), so they are flat strings
 * like those parsed from the network, not slices of a pool.
 */
import { createHash } from 'node:crypto'
import type { EgressProtocol, EgressVia } from '../policy/egress-types.js'
import type { EgressEvent, EgressKey } from '../profiles/baseline/recorder.js'
import type { SignalAction } from '../signals/types.js'

/** 2026-11-22T00:00:00Z: where every simulated clock starts. */
export const T0 = Date.UTC(2026, 10, 22)

/** The simulated clock a stream advances and the recorder reads (`clock: () => clock.now`). */
export interface Clock {
  now: number
}

/** The recorder's input methods (BaselineRecorder satisfies `Sink<DnsHandle>`). */
export interface Sink<H> {
  egress(e: EgressEvent): void
  egressContent(k: EgressKey, kind: 'tls' | 'http' | 'other'): void
  egressBytes(k: EgressKey, up: number, down: number): void
  dnsQuery(name: string, qtype: string, action: SignalAction): H | undefined
  dnsHit(h: H, qtype: string, now: number): void
  dnsAnswer(name: string, types: readonly string[]): void
  toolListed(name: string, digest: string): void
  toolCalled(name: string, failed: boolean, args: unknown, redactKey: (key: string) => string): void
  toolRefused(name: string): void
}

/** What a stream fed, by kind. */
export interface Fed {
  /** Every recorder call. */
  total: number
  /** `egress()` calls (each is counted on a destination or in `dropped.destinations`). */
  egress: number
  /** `dnsQuery()` + `dnsHit()` calls (each is counted on a name or in `dropped.dns_names`). */
  dns: number
  /** `toolListed()` + `toolCalled()` calls (each is counted on a tool or in `dropped.tools`). */
  tools: number
  /** `toolRefused()` calls for tools the recorder keeps. */
  refused: number
  /** Calls naming a destination, name or tool the recorder never saw: it ignores them by design. */
  ignored: number
}

export function newFed(): Fed {
  return { total: 0, egress: 0, dns: 0, tools: 0, refused: 0, ignored: 0 }
}

/** mulberry32: a small, fast, seeded PRNG in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** `sha256:<64 hex>` of a string: a tool definition digest. */
export function digestOf(s: string): string {
  return `sha256:${createHash('sha256').update(s).digest('hex')}`
}

const IDENTITY = (k: string): string => k
const HOST_CHARS = Buffer.from('abcdefghijklmnopqrstuvwxyz0123456789-')
const KEY_CHARS = Buffer.from('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_')
const HEX = Buffer.from('0123456789abcdef')

/** Builds flat random strings from a seeded PRNG. */
export class Junk {
  readonly #buf = Buffer.alloc(1 << 16)
  constructor(readonly r: () => number) {}

  int(n: number): number {
    return Math.floor(this.r() * n)
  }

  /** `prefix` then random characters of `chars`, `len` characters in all (at least the prefix). */
  text(prefix: string, len: number, chars: Buffer = HOST_CHARS): string {
    const b = this.#buf
    const p = b.write(prefix, 0, 'latin1')
    for (let i = p; i < len; i++) b[i] = chars[Math.floor(this.r() * chars.length)]!
    return b.toString('latin1', 0, Math.max(p, len))
  }

  /** A unique host-like name (`<seq>.<junk>.<junk>`, labels ≤ 63) of `len` characters. */
  host(seq: number, len: number): string {
    const b = this.#buf
    let i = b.write(`${seq.toString(36)}.`, 0, 'latin1')
    let label = 0
    for (; i < len; i++) {
      if (label === 62 || (label > 3 && i < len - 2 && this.r() < 0.08)) {
        b[i] = 0x2e // '.'
        label = 0
      } else {
        b[i] = HOST_CHARS[Math.floor(this.r() * 36)]! // letters and digits only
        label++
      }
    }
    return b.toString('latin1', 0, Math.max(i, 2))
  }

  /** A length: mostly short, sometimes long, now and then the maximum. */
  length(max: number): number {
    const r = this.r()
    if (r < 0.7) return 8 + this.int(33)
    if (r < 0.95) return Math.min(max, 40 + this.int(81))
    return Math.max(8, max - this.int(54))
  }

  ip(): string {
    if (this.r() < 0.75) return `${1 + this.int(223)}.${this.int(256)}.${this.int(256)}.${this.int(256)}`
    return `2001:db8:${this.int(65536).toString(16)}:${this.int(65536).toString(16)}::${this.int(65536).toString(16)}`
  }

  /** A digest that was never seen. */
  digest(): string {
    const b = this.#buf
    const hex = HEX
    b.write('sha256:', 0, 'latin1')
    for (let i = 7; i < 71; i++) b[i] = hex[this.int(16)]!
    return b.toString('latin1', 0, 71)
  }

  /** A fresh argument object with `n` junk keys (null prototype: dictionary mode, like many parsed bodies). */
  args(seq: number, n: number): Record<string, number> {
    const o = Object.create(null) as Record<string, number>
    for (let i = 0; i < n; i++) o[this.text(`${seq.toString(36)}_${i}_`, this.length(80), KEY_CHARS)] = i
    return o
  }
}

/** Cumulative Zipf weights (s = 1) of `n` items; {@link pick} draws from them. */
function zipf(n: number): Float64Array {
  const w = new Float64Array(n)
  let sum = 0
  for (let i = 0; i < n; i++) w[i] = sum += 1 / (i + 1)
  for (let i = 0; i < n; i++) w[i]! /= sum
  return w
}

function pick(cum: Float64Array, r: number): number {
  let i = 0
  while (i < cum.length - 1 && cum[i]! < r) i++
  return i
}

interface RealDest {
  key: EgressKey
  ips: string[]
  via: EgressVia
  /** Refused by the policy now and then (a probe of a denied port). */
  flaky: boolean
}

interface RealTool {
  name: string
  digest: string
  args: Array<Record<string, unknown>>
}

const TOOL_ARGS: Array<[string, string[]]> = [
  ['read_file', ['path', 'encoding']],
  ['write_file', ['path', 'content', 'encoding']],
  ['list_directory', ['path', 'recursive']],
  ['search_files', ['path', 'pattern', 'exclude']],
  ['fetch', ['url', 'max_length', 'raw']],
  ['query_database', ['sql', 'params', 'timeout_ms']],
  ['create_issue', ['repo', 'title', 'body', 'labels']],
  ['get_issue', ['repo', 'number']],
  ['send_message', ['channel', 'text', 'thread_ts']],
  ['run_command', ['command', 'cwd', 'env', 'timeout']],
  ['get_weather', ['city', 'units']],
  ['summarize', ['text', 'max_words', 'style', 'language', 'format']],
]

const STEP_REALISTIC_MS = 21.6
const STEP_ADVERSARIAL_MS = 200

/** A provider doing its normal work; see the file comment. */
export class RealisticStream {
  readonly clock: Clock = { now: T0 }
  readonly fed = newFed()
  readonly #r: () => number
  readonly #dests: RealDest[] = []
  readonly #names: Array<{ name: string; denied: boolean }> = []
  readonly #tools: RealTool[] = []
  readonly #destW: Float64Array
  readonly #nameW: Float64Array
  readonly #toolW: Float64Array
  /** The forwarder's cache, modelled: `name|qtype` → expiry (ms). Survives a "restart": it is traffic, not state of the sink. */
  readonly #expiry = new Map<string, number>()
  /** The forwarder's per-name handles: belong to the sink, dropped by {@link resetHandles}. */
  #handles = new Map<string, unknown>()
  readonly #seenDest = new Set<number>()
  readonly #seenTool = new Set<number>()
  readonly #driftAt: number
  #drifted = false

  /** @param driftAt the event after which one tool's definition changes (its digest). */
  constructor(seed = 1, driftAt = 400_000) {
    this.#r = prng(seed)
    this.#driftAt = driftAt
    const hosts = [
      'api.github.com', 'objects.githubusercontent.com', 'registry.npmjs.org', 'pypi.org', 'files.pythonhosted.org',
      'api.openai.com', 'api.anthropic.com', 'hooks.slack.com', 'slack.com', 'api.weather.example',
      'storage.googleapis.com', 'oauth2.googleapis.com', 's3.us-east-1.amazonaws.com', 'sts.amazonaws.com', 'api.stripe.com',
      'sentry.io', 'o12345.ingest.sentry.io', 'api.segment.io', 'cdn.jsdelivr.net', 'raw.githubusercontent.com',
      'db.internal.example', 'cache.internal.example', 'api.linear.app', 'www.googleapis.com', 'login.microsoftonline.com',
      'graph.microsoft.com', 'telemetry.example.net', 'uploads.github.com',
    ]
    hosts.forEach((host, i) => {
      const ips = Array.from({ length: 1 + (i % 3) }, (_, j) => (j === 1 ? `2001:db8::${(i * 4 + j).toString(16)}` : `203.0.113.${i * 4 + j}`))
      const db = host.startsWith('db.') || host.startsWith('cache.')
      const plain = host.startsWith('api.weather') || host === 'telemetry.example.net'
      const protocol: EgressProtocol = db ? 'tcp' : plain ? 'http' : i % 4 === 3 ? 'https' : 'tunnel'
      const via: EgressVia = db ? 'tcp_forward' : plain ? 'http_proxy' : protocol === 'https' ? 'transparent_tls' : 'connect'
      const port = host.startsWith('db.') ? 5432 : host.startsWith('cache.') ? 6379 : plain ? 80 : 443
      this.#dests.push({ key: { host, port, protocol }, ips, via, flaky: host === 'telemetry.example.net' })
    })
    // Two IP-literal destinations (a database and a metrics push).
    this.#dests.push({ key: { ip: '198.51.100.7', port: 5432, protocol: 'tcp' }, ips: ['198.51.100.7'], via: 'tcp_forward', flaky: false })
    this.#dests.push({ key: { ip: '198.51.100.9', port: 9091, protocol: 'tcp' }, ips: ['198.51.100.9'], via: 'tcp_forward', flaky: true })
    // DNS: every named destination, and 12 names of its own (3 denied: a tracker and two probes).
    for (const d of this.#dests) if (d.key.host) this.#names.push({ name: d.key.host, denied: false })
    for (const n of ['time.google.com', 'ocsp.digicert.com', 'pool.ntp.org', 'crl.pki.goog', 'ntp.ubuntu.com', 'api.ipify.org', 'dns.google', 'ocsp.sectigo.com', 'status.example.net', 'ads.tracker.example']) {
      this.#names.push({ name: n, denied: n.startsWith('ads.') })
    }
    this.#names.push({ name: 'metadata.google.internal', denied: true }, { name: 'x7f3a9.exfil.example', denied: true })
    for (const [name, keys] of TOOL_ARGS) {
      const full = Object.fromEntries(keys.map((k) => [k, 'v']))
      const required = Object.fromEntries(keys.slice(0, Math.max(1, keys.length - 1)).map((k) => [k, 'v']))
      this.#tools.push({ name, digest: digestOf(`${name} v1`), args: [required, full] })
    }
    this.#destW = zipf(this.#dests.length)
    this.#nameW = zipf(this.#names.length)
    this.#toolW = zipf(this.#tools.length)
  }

  /** Destinations, names and tools the stream uses. */
  get sizes(): { destinations: number; dnsNames: number; tools: number } {
    return { destinations: this.#dests.length, dnsNames: this.#names.length, tools: this.#tools.length }
  }

  /** A sidecar restart: the forwarder's handles are gone (its cached names are asked again through dnsQuery). */
  resetHandles(): void {
    this.#handles = new Map()
  }

  /** Feeds events until {@link fed}.total reaches `until` (a listing of 12 tools may pass it by up to 11). */
  run<H>(sink: Sink<H>, until: number): void {
    const fed = this.fed
    while (fed.total < until) {
      this.clock.now = T0 + Math.floor(fed.total * STEP_REALISTIC_MS)
      if (!this.#drifted && fed.total >= this.#driftAt) {
        this.#drifted = true
        this.#tools[5]!.digest = digestOf(`${this.#tools[5]!.name} v2`) // one tool's definition changes once
      }
      const r = this.#r()
      if (r < 0.45) this.#dns(sink)
      else if (r < 0.75) this.#egress(sink)
      else if (r < 0.985) this.#call(sink)
      else if (r < 0.999) this.#refuse(sink)
      else this.#list(sink)
    }
  }

  #dns<H>(sink: Sink<H>): void {
    const fed = this.fed
    const n = this.#names[pick(this.#nameW, this.#r())]!
    const qtype = this.#r() < 0.7 ? 'A' : 'AAAA'
    const now = this.clock.now
    fed.total++
    fed.dns++
    if (n.denied) {
      sink.dnsQuery(n.name, qtype, 'blocked')
      sink.dnsAnswer(n.name, ['NXDOMAIN'])
      fed.total++
      return
    }
    const key = `${n.name}|${qtype}`
    const exp = this.#expiry.get(key)
    if (exp !== undefined && now < exp) {
      // A repeat answered from the cache: the forwarder's hot path.
      const h = this.#handles.get(n.name) as H | undefined
      if (h !== undefined) sink.dnsHit(h, qtype, now)
      else {
        const got = sink.dnsQuery(n.name, qtype, 'allowed') // after a restart: same counts as a hit
        if (got !== undefined) this.#handles.set(n.name, got)
      }
      return
    }
    const h = sink.dnsQuery(n.name, qtype, 'allowed')
    if (h !== undefined) this.#handles.set(n.name, h)
    sink.dnsAnswer(n.name, this.#r() < 0.1 ? ['CNAME', qtype] : [qtype])
    fed.total++
    this.#expiry.set(key, now + 60_000)
  }

  #egress<H>(sink: Sink<H>): void {
    const fed = this.fed
    const i = pick(this.#destW, this.#r())
    const d = this.#dests[i]!
    const r = this.#r()
    fed.total++
    if (!this.#seenDest.has(i) || r < 0.6) {
      this.#seenDest.add(i)
      fed.egress++
      const blocked = d.flaky && this.#r() < 0.2
      const failed = !blocked && this.#r() < 0.005
      const ip = d.key.ip ?? d.ips[this.#r() * d.ips.length | 0]!
      sink.egress({ ...d.key, ip, via: d.via, action: blocked ? 'blocked' : 'allowed', failed })
    } else if (r < 0.75) {
      sink.egressContent(d.key, d.key.protocol === 'http' ? 'http' : 'tls')
    } else {
      sink.egressBytes(d.key, 200 + Math.floor(this.#r() * 4000), 500 + Math.floor(this.#r() * 60_000))
    }
  }

  #call<H>(sink: Sink<H>): void {
    const i = pick(this.#toolW, this.#r())
    const t = this.#tools[i]!
    this.#seenTool.add(i)
    this.fed.total++
    this.fed.tools++
    sink.toolCalled(t.name, this.#r() < 0.02, t.args[this.#r() < 0.8 ? 0 : 1], IDENTITY)
  }

  #refuse<H>(sink: Sink<H>): void {
    const i = pick(this.#toolW, this.#r())
    if (!this.#seenTool.has(i)) return this.#call(sink)
    this.fed.total++
    this.fed.refused++
    sink.toolRefused(this.#tools[i]!.name)
  }

  /** A `tools/list`: every tool once. */
  #list<H>(sink: Sink<H>): void {
    for (const t of this.#tools) {
      this.fed.total++
      this.fed.tools++
      sink.toolListed(t.name, t.digest)
    }
  }
}

const VIAS: EgressVia[] = ['connect', 'http_proxy', 'transparent_http', 'transparent_tls', 'tcp_forward']
const PROTOCOLS: EgressProtocol[] = ['http', 'https', 'tunnel', 'tcp']
const ACTIONS: SignalAction[] = ['allowed', 'alerted', 'blocked', 'quarantined']
/** Keys the adversarial stream remembers to grow, per kind (within the default limits, so kept). */
const KNOWN = { destinations: 500, names: 1000, tools: 200 }

/** Junk; see the file comment. */
export class AdversarialStream {
  readonly clock: Clock = { now: T0 }
  readonly fed = newFed()
  readonly #j: Junk
  #seq = 0
  readonly #knownDest: EgressKey[] = []
  readonly #knownNames: string[] = []
  readonly #knownTools: string[] = []
  /** Names whose repeats are answered from the (modelled) forwarder cache: traffic, survives a restart. */
  readonly #hitNames: string[] = []
  /** Their handles: belong to the sink, dropped by {@link resetHandles}. */
  #handles = new Map<string, unknown>()

  constructor(seed = 7) {
    this.#j = new Junk(prng(seed))
  }

  resetHandles(): void {
    this.#handles = new Map()
  }

  run<H>(sink: Sink<H>, until: number): void {
    const fed = this.fed
    const j = this.#j
    while (fed.total < until) {
      this.clock.now = T0 + fed.total * STEP_ADVERSARIAL_MS
      const seq = this.#seq++
      const r = j.r()
      fed.total++
      if (r < 0.25) {
        // A new destination: a junk host, or an IP literal.
        const port = j.int(65536)
        const protocol = PROTOCOLS[j.int(4)]!
        const ip = j.ip()
        const key: EgressKey = j.r() < 0.2 ? { ip, port, protocol } : { host: j.host(seq, j.length(253)), port, protocol }
        if (this.#knownDest.length < KNOWN.destinations) this.#knownDest.push(key)
        fed.egress++
        sink.egress({ ...key, ip, via: VIAS[j.int(5)]!, action: ACTIONS[j.int(4)]!, failed: j.r() < 0.05 })
      } else if (r < 0.45) {
        const name = j.host(seq, j.length(253))
        if (this.#knownNames.length < KNOWN.names) this.#knownNames.push(name)
        fed.dns++
        const action = ACTIONS[j.int(4)]!
        const h = sink.dnsQuery(name, `TYPE${j.int(65536)}`, action)
        if (this.#hitNames.length < 64 && action === 'allowed') {
          this.#hitNames.push(name)
          if (h !== undefined) this.#handles.set(name, h)
        }
      } else if (r < 0.55) {
        const name = j.text(`${seq.toString(36)}_`, j.length(256), KEY_CHARS)
        if (this.#knownTools.length < KNOWN.tools) this.#knownTools.push(name)
        fed.tools++
        sink.toolCalled(name, j.r() < 0.3, j.args(seq, 3), IDENTITY)
      } else if (r < 0.6) {
        const name = j.text(`${seq.toString(36)}_`, j.length(256), KEY_CHARS)
        if (this.#knownTools.length < KNOWN.tools) this.#knownTools.push(name)
        fed.tools++
        sink.toolListed(name, j.digest())
      } else if (r < 0.85) {
        this.#grow(sink, seq)
      } else {
        // Keys the recorder never saw: ignored by design (they must not create records).
        fed.ignored++
        const k = j.int(4)
        const name = j.host(seq, j.length(253))
        if (k === 0) sink.egressBytes({ host: name, port: 443, protocol: 'tunnel' }, 100, 100)
        else if (k === 1) sink.egressContent({ host: name, port: 443, protocol: 'tunnel' }, 'other')
        else if (k === 2) sink.dnsAnswer(name, ['A'])
        else sink.toolRefused(name)
      }
    }
  }

  /** Grows what is already kept: addresses, QTYPEs and answer types, argument keys, digests, refusals, bytes. */
  #grow<H>(sink: Sink<H>, seq: number): void {
    const j = this.#j
    const fed = this.fed
    const k = j.int(8)
    if (k === 0 && this.#knownDest.length) {
      const key = this.#knownDest[j.int(this.#knownDest.length)]!
      fed.egress++
      sink.egress({ ...key, ip: key.ip ?? j.ip(), via: VIAS[j.int(5)]!, action: ACTIONS[j.int(4)]! })
    } else if (k === 1 && this.#knownDest.length) {
      const key = this.#knownDest[j.int(this.#knownDest.length)]!
      if (j.r() < 0.5) sink.egressBytes(key, j.int(1 << 20), j.int(1 << 24))
      else sink.egressContent(key, (['tls', 'http', 'other'] as const)[j.int(3)]!)
    } else if (k === 2 && this.#knownNames.length) {
      fed.dns++
      sink.dnsQuery(this.#knownNames[j.int(this.#knownNames.length)]!, `TYPE${j.int(65536)}`, ACTIONS[j.int(4)]!)
    } else if (k === 3 && this.#hitNames.length) {
      // A cache hit on a kept name, with a QTYPE never seen on it.
      const name = this.#hitNames[j.int(this.#hitNames.length)]!
      const qtype = `TYPE${j.int(65536)}`
      const h = this.#handles.get(name) as H | undefined
      fed.dns++
      if (h !== undefined) sink.dnsHit(h, qtype, this.clock.now)
      else {
        const got = sink.dnsQuery(name, qtype, 'allowed') // after a restart: same counts as a hit
        if (got !== undefined) this.#handles.set(name, got)
      }
    } else if (k === 4 && this.#knownNames.length) {
      sink.dnsAnswer(this.#knownNames[j.int(this.#knownNames.length)]!, [`UNKNOWN_${j.int(65536)}`, `UNKNOWN_${j.int(65536)}`])
    } else if (k === 5 && this.#knownTools.length) {
      fed.tools++
      sink.toolCalled(this.#knownTools[j.int(this.#knownTools.length)]!, false, j.args(seq, 4), IDENTITY)
    } else if (k === 6 && this.#knownTools.length) {
      fed.tools++
      sink.toolListed(this.#knownTools[j.int(this.#knownTools.length)]!, j.digest())
    } else if (k === 7 && this.#knownTools.length) {
      fed.refused++
      sink.toolRefused(this.#knownTools[j.int(this.#knownTools.length)]!)
    } else {
      // Nothing known yet of that kind: a new DNS name instead.
      fed.dns++
      sink.dnsQuery(j.host(seq, j.length(253)), 'A', 'allowed')
    }
  }
}

/** Swallows every event (the cost of generating a stream, measured apart). */
export class NoopSink implements Sink<object> {
  readonly #h = {}
  egress(): void {}
  egressContent(): void {}
  egressBytes(): void {}
  dnsQuery(): object {
    return this.#h
  }
  dnsHit(): void {}
  dnsAnswer(): void {}
  toolListed(): void {}
  toolCalled(): void {}
  toolRefused(): void {}
}

interface NaiveDest {
  host?: string
  ip?: string
  port: number
  protocol: EgressProtocol
  via: Record<string, number>
  actions: Record<string, number>
  content?: Record<string, number>
  errors: number
  addresses: Array<{ ip: string; class: string }>
  count: number
  up: number
  down: number
  first: number
  last: number
}

interface NaiveDns {
  name: string
  count: number
  qtypes: Record<string, number>
  actions: Record<string, number>
  answers: Record<string, number>
  first: number
  last: number
}

interface NaiveTool {
  name: string
  listed: number
  calls: number
  errors: number
  refused: number
  keys: Set<string>
  digests: string[]
  first: number
  last: number
}

function inc(r: Record<string, number>, k: string): void {
  r[k] = (r[k] ?? 0) + 1
}

/** The recorder's records with no limit anywhere: what recording every key would hold. */
export class NaiveBaseline implements Sink<NaiveDns> {
  readonly egressMap = new Map<string, NaiveDest>()
  readonly dns = new Map<string, NaiveDns>()
  readonly tools = new Map<string, NaiveTool>()
  readonly minutes = new Map<number, number>()
  events = 0

  constructor(readonly clock: () => number) {}

  #key(e: EgressKey): string {
    return `${e.host ?? e.ip}|${e.port}|${e.protocol}`
  }

  egress(e: EgressEvent): void {
    const now = this.clock()
    const key = this.#key(e)
    let d = this.egressMap.get(key)
    if (!d) {
      d = { ...(e.host !== undefined ? { host: e.host } : { ip: e.ip! }), port: e.port, protocol: e.protocol, via: {}, actions: {}, errors: 0, addresses: [], count: 0, up: 0, down: 0, first: now, last: now }
      this.egressMap.set(key, d)
    }
    d.count++
    d.last = now
    inc(d.via, e.via)
    inc(d.actions, e.action)
    if (e.failed) d.errors++
    else if (e.ip !== undefined && !d.addresses.some((a) => a.ip === e.ip)) d.addresses.push({ ip: e.ip, class: 'global' })
    this.events++
  }

  egressContent(k: EgressKey, kind: string): void {
    const d = this.egressMap.get(this.#key(k))
    if (!d) return
    inc((d.content ??= {}), kind)
    this.events++
  }

  egressBytes(k: EgressKey, up: number, down: number): void {
    const d = this.egressMap.get(this.#key(k))
    if (!d) return
    d.up += up
    d.down += down
    this.events++
  }

  dnsQuery(name: string, qtype: string, action: string): NaiveDns {
    const now = this.clock()
    let h = this.dns.get(name)
    if (!h) {
      h = { name, count: 0, qtypes: {}, actions: {}, answers: {}, first: now, last: now }
      this.dns.set(name, h)
    }
    this.#count(h, qtype, action, now)
    return h
  }

  dnsHit(h: NaiveDns, qtype: string, now: number): void {
    this.#count(h, qtype, 'allowed', now)
  }

  #count(h: NaiveDns, qtype: string, action: string, now: number): void {
    h.count++
    h.last = now
    inc(h.qtypes, qtype)
    inc(h.actions, action)
    this.events++
  }

  dnsAnswer(name: string, types: readonly string[]): void {
    const h = this.dns.get(name)
    if (!h) return
    for (const t of types) inc(h.answers, t)
    this.events++
  }

  #tool(name: string): NaiveTool {
    const now = this.clock()
    let t = this.tools.get(name)
    if (!t) {
      t = { name, listed: 0, calls: 0, errors: 0, refused: 0, keys: new Set(), digests: [], first: now, last: now }
      this.tools.set(name, t)
    }
    t.last = now
    this.events++
    return t
  }

  toolListed(name: string, digest: string): void {
    const t = this.#tool(name)
    t.listed++
    if (!t.digests.includes(digest)) t.digests.push(digest)
  }

  toolCalled(name: string, failed: boolean, args: unknown, redactKey: (key: string) => string): void {
    const t = this.#tool(name)
    t.calls++
    if (failed) t.errors++
    if (args !== null && typeof args === 'object') for (const k in args) t.keys.add(redactKey(k))
    const m = Math.floor(this.clock() / 60_000)
    this.minutes.set(m, (this.minutes.get(m) ?? 0) + 1)
  }

  toolRefused(name: string): void {
    const t = this.tools.get(name)
    if (!t) return
    t.refused++
    this.events++
  }

  /** Bytes of the `hangar.baseline/v1` JSON these records would make (summed per record: no 100 MB string is built). */
  jsonBytes(): number {
    const iso = (ms: number) => new Date(ms).toISOString()
    let n = 600 // the document's own fields
    for (const d of this.egressMap.values()) {
      n += 1 + Buffer.byteLength(JSON.stringify({
        ...(d.host !== undefined ? { host: d.host } : { ip: d.ip }), port: d.port, protocol: d.protocol, via: d.via, actions: d.actions,
        ...(d.content && { content: d.content }), errors: d.errors, addresses: d.addresses, count: d.count, bytes_up: d.up, bytes_down: d.down,
        first_seen: iso(d.first), last_seen: iso(d.last),
      }))
    }
    for (const h of this.dns.values()) {
      n += 1 + Buffer.byteLength(JSON.stringify({ name: h.name, qtypes: h.qtypes, actions: h.actions, answers: h.answers, count: h.count, first_seen: iso(h.first), last_seen: iso(h.last) }))
    }
    for (const t of this.tools.values()) {
      n += 1 + Buffer.byteLength(JSON.stringify({
        name: t.name, listed: t.listed, calls: t.calls, errors: t.errors, refused: t.refused, argument_keys: [...t.keys].sort(), digests: t.digests,
        first_seen: iso(t.first), last_seen: iso(t.last),
      }))
    }
    for (const [m, c] of this.minutes) n += 1 + JSON.stringify([m, c]).length
    return n
  }
}

const enum Op {
  Egress, Content, Bytes, Query, Hit, Answer, Listed, Called, Refused,
}

/**
 * A stream recorded once (every call, its arguments and the clock), to be replayed into a sink:
 * times what the sink costs per event without the cost of generating the events. A DNS handle is
 * a token on the tape; the replay keeps the sink's handle per token in an array (the forwarder
 * keeps it in its hot entry).
 */
export class Tape implements Sink<number> {
  ops = new Uint8Array(1 << 16)
  times = new Float64Array(1 << 16)
  readonly args: unknown[] = []
  length = 0
  #tokens = 0

  constructor(readonly clock: Clock) {}

  #push(op: Op, a: unknown, b?: unknown, c?: unknown, d?: unknown): void {
    if (this.length === this.ops.length) {
      const ops = new Uint8Array(this.ops.length * 2)
      ops.set(this.ops)
      this.ops = ops
      const times = new Float64Array(this.times.length * 2)
      times.set(this.times)
      this.times = times
    }
    this.ops[this.length] = op
    this.times[this.length] = this.clock.now
    this.args.push(a, b, c, d)
    this.length++
  }

  egress(e: EgressEvent): void {
    this.#push(Op.Egress, e)
  }
  egressContent(k: EgressKey, kind: 'tls' | 'http' | 'other'): void {
    this.#push(Op.Content, k, kind)
  }
  egressBytes(k: EgressKey, up: number, down: number): void {
    this.#push(Op.Bytes, k, up, down)
  }
  dnsQuery(name: string, qtype: string, action: SignalAction): number {
    const token = this.#tokens++
    this.#push(Op.Query, name, qtype, action, token)
    return token
  }
  dnsHit(token: number, qtype: string): void {
    this.#push(Op.Hit, token, qtype)
  }
  dnsAnswer(name: string, types: readonly string[]): void {
    this.#push(Op.Answer, name, types)
  }
  toolListed(name: string, digest: string): void {
    this.#push(Op.Listed, name, digest)
  }
  toolCalled(name: string, failed: boolean, args: unknown, redactKey: (key: string) => string): void {
    this.#push(Op.Called, name, failed, args, redactKey)
  }
  toolRefused(name: string): void {
    this.#push(Op.Refused, name)
  }

  /** Feeds every recorded call to `sink`, setting `clock.now` as recorded; returns the ms it took. */
  replay<H>(sink: Sink<H>, clock: Clock): number {
    const ops = this.ops
    const times = this.times
    const a = this.args
    const handles: Array<H | undefined> = new Array(this.#tokens)
    const t0 = performance.now()
    for (let i = 0, n = this.length; i < n; i++) {
      const now = (clock.now = times[i]!)
      const x = i * 4
      switch (ops[i] as Op) {
        case Op.Egress:
          sink.egress(a[x] as EgressEvent)
          break
        case Op.Content:
          sink.egressContent(a[x] as EgressKey, a[x + 1] as 'tls')
          break
        case Op.Bytes:
          sink.egressBytes(a[x] as EgressKey, a[x + 1] as number, a[x + 2] as number)
          break
        case Op.Query:
          handles[a[x + 3] as number] = sink.dnsQuery(a[x] as string, a[x + 1] as string, a[x + 2] as SignalAction)
          break
        case Op.Hit: {
          const h = handles[a[x] as number]
          if (h !== undefined) sink.dnsHit(h, a[x + 1] as string, now)
          break
        }
        case Op.Answer:
          sink.dnsAnswer(a[x] as string, a[x + 1] as string[])
          break
        case Op.Listed:
          sink.toolListed(a[x] as string, a[x + 1] as string)
          break
        case Op.Called:
          sink.toolCalled(a[x] as string, a[x + 1] as boolean, a[x + 2], a[x + 3] as (k: string) => string)
          break
        case Op.Refused:
          sink.toolRefused(a[x] as string)
          break
      }
    }
    return performance.now() - t0
  }
}
