/**
 * The DNS forwarder (docs/egress.md §DNS steering, §DNS): every name lookup of the provider
 * comes here, and only names the policy allows get a real answer.
 *
 * Per query, in order:
 *  1. read the header and question from bytes (wire.ts): shorter than 12 bytes or a response →
 *     dropped; malformed, QDCOUNT ≠ 1, answer/authority records → FORMERR; opcode ≠ QUERY →
 *     NOTIMP; EDNS version ≠ 0 → BADVERS; class ≠ IN → REFUSED; AXFR/IXFR/MAILA/MAILB → NOTIMP.
 *     Never throws.
 *  2. decideDnsName + enforce (memoised per name, the memo dropped on every quarantine switch);
 *     a name a wildcard (or `dns_resolve_any`) admitted is then counted against the subdomain
 *     budget on every query that takes this path (policy/tunnel.ts; shared with the connector;
 *     the memo keeps only its budget key), and over budget it is a `dns_tunnel_suspected`
 *     denial. Denied → NXDOMAIN, or REFUSED with `dns_denied_rcode: refused`.
 *  3. Record type: an allowed name is forwarded for A and AAAA, and for the types its rules list
 *     in `dns_types`; any other type is a `dns_type_not_allowed` denial answered NOERROR without
 *     records (NODATA: the name exists, so no NXDOMAIN that would hide its other types, RFC 8020).
 *     Every decision goes to EgressSignals.dns. Alert mode lets non-hard denials through
 *     (forwarded, signalled).
 *  4. ANY → the RFC 8482 minimal answer; HTTPS/SVCB → NODATA (their address hints would bypass
 *     the filter and steering). Both are answered here, never forwarded, and not signalled as
 *     denials (clients send HTTPS queries on their own).
 *  5. `dns_mode: steering` and a steerable name: A / AAAA are synthesized with `sidecar.address`
 *     (the other family → NODATA), TTL `dns_steering_ttl_s`, no upstream query.
 *  6. otherwise: the cache, else the upstream (one query per key in flight; only the question
 *     goes upstream, never the client's EDNS options); the answer is filtered before caching:
 *     the answer section keeps records of the asked type and the CNAME/DNAME chain, the
 *     authority section its SOA, the additional section nothing (records of other types are a
 *     channel back to the provider); A/AAAA records in the always-denied set are removed unless
 *     `loopback_allowed` covers them or a `cidr` rule contains them (rebinding defence), then
 *     EgressSignals.dnsStripped; an address question left without addresses → NOERROR, no
 *     answers. Upstream failure → SERVFAIL.
 * The reply's question echoes the client's bytes (0x20 letter case).
 *
 * Hot path (cached answers, the bulk of the traffic): a question served from the cache is
 * remembered by its raw bytes (name lowercased) with its verdict and cache entry, so a repeat
 * is recognised without parsing or building strings, and answered with one allocation (id,
 * question bytes and TTLs patched). Allowed queries reach EgressSignals.dns at most once a
 * second per (name, QTYPE) (it only samples observations, once per `observation_window_ms`,
 * and the rest are counted here); dns_queries_total{decision=allowed} and
 * dns_cache_hits_total are added in batches once per event-loop turn ({@link
 * DnsForwarder.flushMetrics}). Denials are never batched: each one is signalled. A quarantine
 * switch drops the verdict memo and the hot entries, so it applies to the very next query.
 */
import * as dnsPacket from 'dns-packet'
import type { SidecarConfig, SidecarLimits } from '../../config/schema.js'
import { ERROR_CODES, HangarError } from '../../core/errors.js'
import type { EgressContext } from '../connector.js'
import { ADDRESS_CLASS_TEXT, classifyAddress } from '../../policy/address-class.js'
import { enforce, type Enforcement } from '../../policy/egress.js'
import { parseIpLiteral } from '../../policy/ip.js'
import { DnsResolver } from '../resolve.js'
import type { EgressPolicy, Resolver } from '../../policy/egress-types.js'
import type { BaselineObserver, DnsHandle } from '../../policy/baseline-observer.js'
import { DnsCache, type CachedResponse } from './cache.js'
import { decideDnsName, dnsTypeAllowed, type DnsDecision } from '../../policy/dns.js'
import { SubdomainBudget, type BudgetKey } from '../../policy/tunnel.js'
import { DnsUpstream } from './upstream.js'
import {
  addressBytes, buildResponse, CLASS_IN, hashQuestion, HEADER_BYTES, packetTypeName, parseQuery, questionEndOf, questionKey, questionRecord, quick,
  QType, Rcode, rfc8482Record, sameQuestionKey, typeName, type ParsedQuery,
} from './wire.js'

/** Transport a query arrived on. */
export type DnsTransport = 'udp' | 'tcp'

/** Answers raw DNS queries (the {@link DnsServer}'s handler). */
export interface DnsHandler {
  /**
   * Answers one query. May return synchronously (cache hits, denials, errors) or a promise.
   * Never throws and never rejects.
   * @returns the response bytes, or null when no reply should be sent
   */
  respond(query: Buffer, client: string, transport: DnsTransport): Buffer | null | Promise<Buffer | null>
  /** Releases resources; the {@link DnsServer} calls it when it closes. */
  close?(): void
}

/** Options of {@link DnsForwarder}. */
export interface DnsForwarderOptions {
  /** The provider's egress context: policy, enforcement state, signals, metrics, log. */
  ctx: Pick<EgressContext, 'policy' | 'enforcement' | 'signals' | 'metrics' | 'log'> & Partial<Pick<EgressContext, 'budget'>>
  /**
   * The provider's `sidecar` block: `address` (what steering answers with), `dns_mode`,
   * `dns_denied_rcode`, `upstream_dns`, `limits` (dns_timeout_ms, dns_steering_ttl_s, dns_cache_*).
   */
  sidecar: Pick<SidecarConfig, 'address' | 'dns_mode' | 'dns_denied_rcode' | 'upstream_dns'> & Partial<Pick<SidecarConfig, 'observation_window_ms'>> & {
    limits: Pick<SidecarLimits, 'dns_timeout_ms' | 'dns_steering_ttl_s' | 'dns_cache_entries' | 'dns_cache_max_ttl_s'>
  }
  /** The proxy's resolver: when it is a {@link DnsResolver}, its upstream client is shared. */
  resolver?: Resolver
  /** Upstream client; default: the resolver's, else one built from `sidecar.upstream_dns` (owned and closed by the forwarder). */
  upstream?: DnsUpstream
  /** Default: a cache sized by `sidecar.limits`. Never share it with a resolver: it holds filtered answers. */
  cache?: DnsCache
  /** resolv.conf path for `upstream_dns: [system]` (tests). */
  resolvConfPath?: string
}

/** A recently served (question → verdict, cache entry) for the allocation-free hot path. */
interface HotEntry {
  /** questionKey() of the question. */
  key: Buffer
  v: Verdict
  e: CachedResponse
  qtype: number
  /** The name's baseline record and the QTYPE's name, when a baseline is recorded. */
  rec?: DnsHandle
  qtypeName: string
  /** Cached answers not yet handed to the baseline (flushed once per event-loop turn). */
  pending: number
}

const HOT_MAX = 8192

interface Verdict {
  d: DnsDecision
  enf: Enforcement
  /** Allowed names a wildcard admitted: their subdomain-budget key, checked on every full-path query. */
  bk?: BudgetKey
  /** Allowed names: when EgressSignals.dns last saw this name per QTYPE (cache clock, ms). */
  seen?: Map<number, number>
}

const MEMO_MAX = 8192
/** TTL of RFC 8482 answers, seconds. */
const RFC8482_TTL = 3600
const NOTIMP_TYPES: ReadonlySet<number> = new Set([QType.AXFR, QType.IXFR, QType.MAILA, QType.MAILB])

type LabelledCounter = { inc(n?: number): void }
/** Longest delay between two EgressSignals.dns calls for an allowed (name, QTYPE), ms. */
const ALLOWED_SIGNAL_INTERVAL_MS = 1000

/** The provider's DNS forwarder. */
export class DnsForwarder implements DnsHandler {
  readonly cache: DnsCache
  readonly #ctx: DnsForwarderOptions['ctx']
  readonly #policy: EgressPolicy
  readonly #upstream: DnsUpstream
  readonly #ownsUpstream: boolean
  readonly #steering: boolean
  readonly #memo = new Map<string, Verdict>()
  readonly #inflight = new Map<string, Promise<CachedResponse | null>>()
  readonly #steerA: Buffer | null
  readonly #steerAAAA: Buffer | null
  readonly #any: Buffer
  readonly #denyRcode: number
  readonly #hits: LabelledCounter
  readonly #allowed: LabelledCounter
  readonly #signalIntervalMs: number
  #lastWarnAt = 0
  #suppressedWarns = 0
  #pendingHits = 0
  #pendingAllowed = 0
  #flushScheduled = false
  readonly #flush = () => this.flushMetrics()
  readonly #formerr: LabelledCounter
  readonly #notimp: LabelledCounter
  readonly #refused: LabelledCounter
  readonly #hot = new Map<number, HotEntry>()
  readonly #baseline: BaselineObserver | undefined
  readonly #alertSteering: boolean
  readonly #budget: SubdomainBudget
  /** Hot entries with cached answers the baseline has not counted yet. */
  #pendingBaseline: HotEntry[] = []
  /** Wall-clock ms minus the cache clock (performance.now()-based): the baseline keeps epoch times. */
  readonly #epochOffset: number
  readonly #onChange = () => {
    this.#memo.clear()
    this.#hot.clear()
  }

  /**
   * @throws HangarError `HANGAR_CONFIG_INVALID` when `sidecar.address` is not an IP or an
   *   `upstream_dns` entry is invalid
   */
  constructor(opts: DnsForwarderOptions) {
    const { ctx, sidecar } = opts
    const limits = sidecar.limits
    this.#ctx = ctx
    this.#policy = ctx.policy
    this.#steering = sidecar.dns_mode === 'steering'
    this.#baseline = ctx.signals.baseline
    // Alert mode steers the names it lets through too, so their traffic comes to the sidecar's
    // listeners (signalled, recorded in the baseline) instead of going around it.
    this.#alertSteering = this.#steering && ctx.policy.mode === 'alert'
    this.cache = opts.cache ?? new DnsCache({ maxEntries: limits.dns_cache_entries, maxTtlS: limits.dns_cache_max_ttl_s })
    this.#epochOffset = Date.now() - this.cache.clock()
    // Shared with the connector when given (one name, one count on every path).
    this.#budget = ctx.budget ?? new SubdomainBudget(ctx.policy.subdomainBudget, this.cache.clock)
    const shared = opts.upstream ?? (opts.resolver instanceof DnsResolver ? opts.resolver.upstream : undefined)
    this.#upstream = shared ?? DnsUpstream.fromConfig(sidecar.upstream_dns, limits.dns_timeout_ms, opts.resolvConfPath)
    this.#ownsUpstream = shared === undefined
    const addr = parseIpLiteral(sidecar.address)
    if (!addr) throw new HangarError(ERROR_CODES.CONFIG_INVALID, `sidecar.address "${sidecar.address}" is not an IP address`)
    const ttl = limits.dns_steering_ttl_s
    this.#steerA = addr.family === 4 ? questionRecord(QType.A, ttl, addressBytes(addr.ip)) : null
    this.#steerAAAA = addr.family === 6 ? questionRecord(QType.AAAA, ttl, addressBytes(addr.ip)) : null
    this.#any = rfc8482Record(RFC8482_TTL)
    this.#denyRcode = sidecar.dns_denied_rcode === 'refused' ? Rcode.REFUSED : Rcode.NXDOMAIN
    const provider = ctx.policy.provider
    const q = ctx.metrics.egress.dnsQueries
    this.#hits = ctx.metrics.egress.dnsCacheHits.labels({ provider })
    this.#allowed = q.labels({ provider, decision: 'allowed' })
    this.#signalIntervalMs = Math.min(ALLOWED_SIGNAL_INTERVAL_MS, sidecar.observation_window_ms ?? 0)
    this.#formerr = q.labels({ provider, decision: 'formerr' })
    this.#notimp = q.labels({ provider, decision: 'notimp' })
    this.#refused = q.labels({ provider, decision: 'refused' })
    ctx.enforcement.on('change', this.#onChange)
  }

  /**
   * Answers one raw query (async form of {@link respond}).
   * @param client the client's address (for signals)
   * @returns the response, or null when the packet gets no reply (< 12 bytes, or not a query)
   */
  async handle(query: Buffer, client: string, transport: DnsTransport): Promise<Buffer | null> {
    return this.respond(query, client, transport)
  }

  /** @inheritDoc */
  respond(query: Buffer, client: string, _transport: DnsTransport): Buffer | null | Promise<Buffer | null> {
    try {
      return this.#respond(query, client)
    } catch (err) {
      this.#ctx.log.error({ err }, 'DNS forwarder failed on a query')
      return query.length >= HEADER_BYTES ? buildResponse(query, HEADER_BYTES, Rcode.SERVFAIL, false) : null
    }
  }

  /**
   * Adds the counts batched on the hot path (cache hits, allowed queries) to the prom-client
   * counters. Runs by itself once per event-loop turn; call it before reading metrics in tests.
   */
  flushMetrics(): void {
    this.#flushScheduled = false
    if (this.#pendingHits > 0) this.#hits.inc(this.#pendingHits)
    if (this.#pendingAllowed > 0) this.#allowed.inc(this.#pendingAllowed)
    if (this.#pendingBaseline.length > 0) {
      const now = this.cache.clock() + this.#epochOffset
      for (const hot of this.#pendingBaseline) {
        this.#baseline!.dnsHit(hot.rec!, hot.qtypeName, now, hot.pending)
        hot.pending = 0
      }
      this.#pendingBaseline = []
    }
    this.#pendingHits = 0
    this.#pendingAllowed = 0
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return
    this.#flushScheduled = true
    setImmediate(this.#flush)
  }

  /** Stops listening to quarantine switches; closes the upstream client if the forwarder created it. */
  close(): void {
    this.flushMetrics()
    this.#ctx.enforcement.off('change', this.#onChange)
    if (this.#ownsUpstream) this.#upstream.close()
  }

  #respond(query: Buffer, client: string): Buffer | null | Promise<Buffer | null> {
    // Hot path: an allowed question answered from the cache within the last second is
    // recognised from its raw bytes (no parse, no strings): only the reply is allocated.
    // Entries exist only for allowed verdicts and are dropped on every quarantine switch.
    const h = hashQuestion(query)
    if (h >= 0) {
      const hot = this.#hot.get(h)
      if (hot !== undefined && sameQuestionKey(hot.key, query, quick.questionEnd)) {
        const now = this.cache.clock()
        const last = hot.v.seen?.get(hot.qtype)
        if (now < hot.e.expiresAt && last !== undefined && now - last < this.#signalIntervalMs) {
          if (hot.rec !== undefined && hot.pending++ === 0) this.#pendingBaseline.push(hot)
          this.#pendingAllowed++
          this.#pendingHits++
          this.#scheduleFlush()
          return this.cache.render(hot.e, query, quick.questionEnd, quick.edns > 0, now)
        }
      }
    }
    const p = parseQuery(query)
    if (p === null) return null
    if (!p.ok) {
      if (p.rcode === Rcode.NOTIMP) this.#notimp.inc()
      else this.#formerr.inc()
      return buildResponse(query, p.questionEnd, p.rcode, p.edns > 0)
    }
    const edns = p.edns > 0
    if (p.qclass !== CLASS_IN) {
      this.#refused.inc()
      return buildResponse(query, p.questionEnd, Rcode.REFUSED, edns)
    }
    if (NOTIMP_TYPES.has(p.qtype)) {
      this.#notimp.inc()
      return buildResponse(query, p.questionEnd, Rcode.NOTIMP, edns)
    }

    const ctx = this.#ctx
    const now = this.cache.clock()
    let v = this.#memo.get(p.qname)
    if (v === undefined) {
      const d = decideDnsName(p.qname, this.#policy, ctx.enforcement.state)
      v = { d, enf: d.verdict === 'allow' ? ALLOWED : enforce(d, this.#policy.mode) }
      const bk = d.verdict === 'allow' && d.budgeted ? this.#budget.keyOf(d.name) : null
      if (bk !== null) v.bk = bk
      if (this.#memo.size >= MEMO_MAX) this.#memo.clear()
      this.#memo.set(p.qname, v)
    }
    const qtype = p.qtype
    let d = v.d
    let enf = v.enf
    // The budget is counted per query (the memo keeps only its key): windows end, counts change.
    const over = v.bk === undefined ? null : this.#budget.admitKey(v.bk)
    if (over !== null) {
      d = { verdict: 'deny', code: 'dns_tunnel_suspected', rule: d.rule, reason: `${d.name} looks like DNS tunnelling: ${over.reason}`, name: d.name }
      enf = enforce(d, this.#policy.mode)
    } else if (d.verdict === 'allow' && !dnsTypeAllowed(d, qtype) && !LOCAL_TYPES.has(qtype)) {
      d = {
        verdict: 'deny', code: 'dns_type_not_allowed', rule: d.rule, name: d.name,
        reason: `${typeName(qtype)} queries for ${d.name} are not forwarded: only A and AAAA are, unless ${d.rule}.dns_types lists the type`,
      }
      enf = enforce(d, this.#policy.mode)
    }
    if (d === v.d && d.verdict === 'allow' && this.#signalIntervalMs > 0) {
      // Allowed queries only feed a counter and a sampled observation (once per
      // observation_window_ms): hand them to EgressSignals at most once a second per
      // (name, QTYPE) and count the rest here, in batches (hot path of cached answers).
      const seen = (v.seen ??= new Map())
      if (seen.size > 64) seen.clear() // bounded: a name asked with every QTYPE
      const last = seen.get(p.qtype)
      if (last === undefined || now - last >= this.#signalIntervalMs) {
        seen.set(p.qtype, now)
        ctx.signals.dns(d, enf, typeName(p.qtype), client)
      } else {
        this.#pendingAllowed++
        this.#scheduleFlush()
      }
    } else ctx.signals.dns(d, enf, typeName(p.qtype), client)
    const b = this.#baseline
    const rec = b?.dnsQuery(d.name, typeName(p.qtype), enf.action)
    if (!enf.permit) {
      if (d.verdict === 'deny' && d.code === 'dns_type_not_allowed') {
        if (rec) b!.dnsAnswer(rec.name, ['NODATA'])
        return buildResponse(query, p.questionEnd, Rcode.NOERROR, edns)
      }
      if (rec) b!.dnsAnswer(rec.name, [this.#denyRcode === Rcode.REFUSED ? 'REFUSED' : 'NXDOMAIN'])
      return buildResponse(query, p.questionEnd, this.#denyRcode, edns)
    }

    if (qtype === QType.ANY) return buildResponse(query, p.questionEnd, Rcode.NOERROR, edns, this.#any, 1)
    if (qtype === QType.HTTPS || qtype === QType.SVCB) return buildResponse(query, p.questionEnd, Rcode.NOERROR, edns)
    if ((this.#steering && v.d.verdict === 'allow' && v.d.steerable) || (this.#alertSteering && v.enf.action === 'alerted')) {
      if (qtype === QType.A || qtype === QType.AAAA) {
        const record = qtype === QType.A ? this.#steerA : this.#steerAAAA
        if (rec) b!.dnsAnswer(rec.name, [record ? 'steered' : 'NODATA'])
        return record ? buildResponse(query, p.questionEnd, Rcode.NOERROR, edns, record, 1) : buildResponse(query, p.questionEnd, Rcode.NOERROR, edns)
      }
    }

    const hit = this.cache.get(p.qname, qtype, p.qclass, now)
    if (hit !== undefined) {
      // Hot entries only for questions allowed outright (an alerted type is decided each time).
      if (h >= 0 && d === v.d && d.verdict === 'allow' && this.#signalIntervalMs > 0 && this.#hot.get(h)?.e !== hit) {
        if (this.#hot.size >= HOT_MAX) this.#hot.clear()
        this.#hot.set(h, { key: questionKey(query, p.questionEnd), v, e: hit, qtype, qtypeName: typeName(qtype), pending: 0, ...(rec && { rec }) })
      }
      this.#pendingHits++
      this.#scheduleFlush()
      return this.cache.render(hit, query, p.questionEnd, edns, now)
    }
    return this.#miss(query, p, v.d, client)
  }

  async #miss(query: Buffer, p: ParsedQuery, d: DnsDecision, client: string): Promise<Buffer | null> {
    try {
      const key = `${p.qtype}|${p.qname}`
      let pending = this.#inflight.get(key)
      if (pending === undefined) {
        pending = this.#fetch(query, p, d).finally(() => this.#inflight.delete(key))
        this.#inflight.set(key, pending)
      }
      const entry = await pending
      // A quarantine switched on while the upstream answered wins over the answer.
      if (this.#ctx.enforcement.state.quarantined) {
        const q = decideDnsName(p.qname, this.#policy, this.#ctx.enforcement.state)
        if (q.verdict === 'deny') {
          const enf = enforce(q, this.#policy.mode)
          this.#ctx.signals.dns(q, enf, typeName(p.qtype), client)
          if (!enf.permit) return buildResponse(query, p.questionEnd, this.#denyRcode, p.edns > 0)
        }
      }
      if (entry === null) {
        this.#baseline?.dnsAnswer(d.name, ['SERVFAIL'])
        return buildResponse(query, p.questionEnd, Rcode.SERVFAIL, p.edns > 0)
      }
      return this.cache.render(entry, query, p.questionEnd, p.edns > 0)
    } catch (err) {
      this.#ctx.log.error({ err, name: p.qname }, 'DNS forwarder failed on a query')
      return buildResponse(query, p.questionEnd, Rcode.SERVFAIL, p.edns > 0)
    }
  }

  /** Logs an upstream failure at warn at most once per 10 s (a flood of failing names would flood the log). */
  #warnUpstream(obj: Record<string, unknown>, msg: string): void {
    const now = Date.now()
    if (now - this.#lastWarnAt < 10_000) {
      this.#suppressedWarns++
      this.#ctx.log.debug(obj, msg)
      return
    }
    this.#ctx.log.warn({ ...obj, suppressed: this.#suppressedWarns }, msg)
    this.#lastWarnAt = now
    this.#suppressedWarns = 0
  }

  /** Queries upstream, filters, caches. Resolves null on failure (→ SERVFAIL). */
  async #fetch(query: Buffer, p: ParsedQuery, d: DnsDecision): Promise<CachedResponse | null> {
    let reply: Buffer
    try {
      reply = await this.#upstream.query(query.subarray(HEADER_BYTES, p.questionEnd), { cd: (query[3]! & 0x10) !== 0 })
    } catch (err) {
      this.#warnUpstream({ err, name: p.qname, qtype: typeName(p.qtype) }, 'upstream DNS failed; answering SERVFAIL')
      return null
    }
    const filtered = this.#filter(reply, query, p, d)
    if (filtered === null) return null
    return this.cache.put(p.qname, p.qtype, p.qclass, filtered.buf, filtered.strippedTtl)
  }

  /**
   * Removes always-denied A/AAAA records, HTTPS/SVCB records and OPT from an upstream reply, and
   * re-encodes it with the client's question bytes. Null when the reply cannot be decoded.
   * `strippedTtl`: smallest TTL of the removed address records (how long an emptied answer may be cached).
   */
  #filter(reply: Buffer, query: Buffer, p: ParsedQuery, d: DnsDecision): { buf: Buffer; strippedTtl?: number } | null {
    let msg: dnsPacket.DecodedPacket
    try {
      msg = dnsPacket.decode(reply)
    } catch (err) {
      this.#warnUpstream({ err, name: p.qname }, 'undecodable upstream DNS reply; answering SERVFAIL')
      return null
    }
    const stripped: Array<{ ip: string; cls: string }> = []
    let strippedTtl: number | undefined
    const asked = packetTypeName(p.qtype)
    // Per section, the records a reply to this question needs; anything else could carry data:
    // answers of the asked type or CNAME owned by the name or its CNAME chain (RFC 1034 §3.6.2),
    // DNAMEs owned by an ancestor of the chain (RFC 6672), and one SOA in authority (negative
    // caching, RFC 2308; its owner is not checked: servers differ on it).
    const chain = cnameChain(msg.answers ?? [], p.qname)
    const above = (owner: string) => {
      for (const c of chain) if (owner === '' || c === owner || c.endsWith('.' + owner)) return true
      return false
    }
    const inAnswer = (rr: dnsPacket.Answer) => {
      const t = rr.type as string
      if (t === asked || t === 'CNAME') return chain.has(ownerName(rr))
      return t === 'DNAME' && above(ownerName(rr))
    }
    let soa = 0
    const inAuthority = (rr: dnsPacket.Answer) => rr.type === 'SOA' && soa++ === 0
    const keep = (rrs: dnsPacket.Answer[] | undefined, wanted: (rr: dnsPacket.Answer) => boolean): dnsPacket.Answer[] =>
      (rrs ?? []).filter((rr) => {
        const t = rr.type as string
        if (!wanted(rr)) return false
        if (t !== 'A' && t !== 'AAAA') return true
        const a = parseIpLiteral((rr as dnsPacket.StringAnswer).data)
        if (a === null) {
          stripped.push({ ip: String((rr as dnsPacket.StringAnswer).data), cls: 'malformed' })
          return false
        }
        const cls = classifyAddress(a)
        if (cls === 'global' || (cls === 'loopback' && this.#policy.loopbackAllowed)) return true
        for (const r of this.#policy.rules) if (r.cidr && r.cidr.contains(a)) return true
        stripped.push({ ip: a.ip, cls })
        strippedTtl = Math.min(strippedTtl ?? Infinity, (rr as dnsPacket.StringAnswer).ttl ?? 0)
        return false
      })
    let answers = keep(msg.answers, inAnswer)
    const authorities = keep(msg.authorities, inAuthority)
    const additionals: dnsPacket.Answer[] = []
    if (stripped.length > 0) {
      if ((p.qtype === QType.A || p.qtype === QType.AAAA) && !answers.some((a) => a.type === 'A' || a.type === 'AAAA')) answers = []
      this.#ctx.signals.dnsStripped(d.name, d.rule, stripped)
      this.#ctx.log.info({ name: d.name, stripped: stripped.map((s) => `${s.ip} (${ADDRESS_CLASS_TEXT[s.cls as keyof typeof ADDRESS_CLASS_TEXT] ?? s.cls})`) }, 'stripped always-denied addresses from a DNS answer')
    }
    const rcode = (msg.flags ?? 0) & 0xf
    if (this.#baseline) this.#baseline.dnsAnswer(d.name, answerTypes(rcode, answers))
    let out: Buffer
    try {
      out = dnsPacket.encode({
        id: 0,
        type: 'response',
        flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | rcode,
        questions: msg.questions ?? [],
        answers,
        authorities,
        additionals,
      })
    } catch (err) {
      this.#warnUpstream({ err, name: p.qname }, 'cannot re-encode an upstream DNS reply; answering SERVFAIL')
      return null
    }
    // The question section keeps the client's bytes (same length: same name up to case).
    if (questionEndOf(out) !== p.questionEnd || out.length > 65535) return null
    query.copy(out, HEADER_BYTES, HEADER_BYTES, p.questionEnd)
    return strippedTtl === undefined ? { buf: out } : { buf: out, strippedTtl }
  }
}

const ALLOWED: Enforcement = Object.freeze({ permit: true, action: 'allowed', triggersQuarantine: false })

/** A record's owner name, lowercase, without the trailing dot (`''` for the root). */
function ownerName(rr: dnsPacket.Answer): string {
  const n = rr.name.toLowerCase()
  return n.endsWith('.') ? n.slice(0, -1) : n
}

/** Longest CNAME chain followed in an answer section. */
const MAX_CHAIN = 16

/** The question name and the names its CNAME records lead to within `answers` (lowercase). */
function cnameChain(answers: readonly dnsPacket.Answer[], qname: string): Set<string> {
  const chain = new Set([qname])
  for (let i = 0, grew = true; grew && i < MAX_CHAIN; i++) {
    grew = false
    for (const rr of answers) {
      if (rr.type !== 'CNAME' || !chain.has(ownerName(rr))) continue
      const target = String(rr.data).toLowerCase().replace(/\.$/, '')
      if (!chain.has(target)) {
        chain.add(target)
        grew = true
      }
    }
  }
  return chain
}

/** Types answered here and never forwarded (ANY: RFC 8482; HTTPS/SVCB: NODATA). */
const LOCAL_TYPES: ReadonlySet<number> = new Set([QType.ANY, QType.HTTPS, QType.SVCB])

const RCODE_NAMES: Readonly<Record<number, string>> = { 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN', 4: 'NOTIMP', 5: 'REFUSED' }

/** What an upstream reply held, for the baseline: its answer record types, or NODATA, or the RCODE's name. */
function answerTypes(rcode: number, answers: readonly dnsPacket.Answer[]): string[] {
  if (rcode !== 0) return [RCODE_NAMES[rcode] ?? `RCODE${rcode}`]
  if (answers.length === 0) return ['NODATA']
  return [...new Set(answers.map((a) => String(a.type)))]
}
