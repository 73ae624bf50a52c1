/**
 * The egress resolver (docs/egress.md §Decision order, step 3): our own A and AAAA queries to the upstream servers
 * (dns/upstream.ts), never getaddrinfo. The addresses it returns are the ones the connector
 * classifies and dials (no second resolution between check and connect).
 *
 * A and AAAA go out in parallel; each answer is cached (dns/cache.ts: TTL honoured, capped at
 * `limits.dns_cache_max_ttl_s`, negative answers per RFC 2308) and concurrent lookups of the same
 * name share one query. Only address records owned by the name or by its CNAME chain count (a
 * record for an unrelated owner in the same reply is ignored). Every address is canonicalised by
 * ip.ts `parseIpLiteral` (IPv4-mapped IPv6 becomes IPv4, so `::ffff:127.0.0.1` is classified as
 * the loopback address it is).
 */
import * as dnsPacket from 'dns-packet'
import type { SidecarLimits } from '../config/schema.js'
import { ERROR_CODES, HangarError } from '../core/errors.js'
import { DnsCache, type CachedResponse } from './dns/cache.js'
import { DnsUpstream } from './dns/upstream.js'
import { CLASS_IN, encodeQuestion, QType, Rcode } from './dns/wire.js'
import { parseIpLiteral } from '../policy/ip.js'
import type { IpAddress, ResolvedAddresses, Resolver } from '../policy/egress-types.js'

/** Options of {@link DnsResolver}. */
export interface DnsResolverOptions {
  /** `sidecar.upstream_dns` (`system` or `IP:port`); ignored when `upstream` is given. */
  servers?: readonly string[]
  /** `sidecar.limits`: dns_timeout_ms, dns_cache_entries, dns_cache_max_ttl_s. */
  limits: Pick<SidecarLimits, 'dns_timeout_ms' | 'dns_cache_entries' | 'dns_cache_max_ttl_s'>
  /** A shared upstream client (not closed by {@link DnsResolver.close}). */
  upstream?: DnsUpstream
  /** A cache of its own (never the forwarder's: that one holds filtered answers). */
  cache?: DnsCache
  /** resolv.conf path for `system` (tests). */
  resolvConfPath?: string
}

interface Lookup {
  addresses: IpAddress[]
  /** Remaining lifetime of the answer, ms. */
  ttlMs: number
  nxdomain: boolean
}

const MAX_CHAIN = 16

/** Resolves host names with our own DNS queries. */
export class DnsResolver implements Resolver {
  /** The upstream client (the DNS forwarder may share it). */
  readonly upstream: DnsUpstream
  readonly cache: DnsCache
  readonly #owns: boolean
  readonly #inflight = new Map<string, Promise<Lookup>>()
  /** Decoded addresses of names whose A/AAAA answers are cached, until the first of them expires. */
  readonly #resolved = new Map<string, { addresses: IpAddress[]; expiresAt: number }>()

  /** @throws HangarError `HANGAR_CONFIG_INVALID` for an invalid `servers` entry */
  constructor(opts: DnsResolverOptions) {
    this.#owns = opts.upstream === undefined
    this.upstream = opts.upstream ?? DnsUpstream.fromConfig(opts.servers ?? ['system'], opts.limits.dns_timeout_ms, opts.resolvConfPath)
    this.cache = opts.cache ?? new DnsCache({ maxEntries: opts.limits.dns_cache_entries, maxTtlS: opts.limits.dns_cache_max_ttl_s })
  }

  /**
   * Resolves a normalised host name (host.ts) to its A then AAAA addresses, deduplicated.
   * When one family fails and the other has addresses, those are returned.
   * @returns addresses and the smallest remaining TTL of the answers used, ms
   * @throws HangarError `HANGAR_DNS_NO_ADDRESS` (NXDOMAIN, no A/AAAA, or not a resolvable name),
   *   `HANGAR_DNS_TIMEOUT` (every server timed out), `HANGAR_DNS_FAILED` (SERVFAIL/REFUSED,
   *   unreachable, undecodable reply)
   */
  async resolve(name: string): Promise<ResolvedAddresses> {
    const host = name.toLowerCase().replace(/\.$/, '')
    // Hot path: the decoded result of a still-valid cached answer, without re-decoding packets.
    const now = this.cache.clock()
    const known = this.#resolved.get(host)
    if (known && known.expiresAt > now) return { addresses: known.addresses, ttlMs: known.expiresAt - now }
    let qA: Buffer
    let qAAAA: Buffer
    try {
      qA = encodeQuestion(host, QType.A)
      qAAAA = encodeQuestion(host, QType.AAAA)
    } catch (err) {
      throw new HangarError(ERROR_CODES.DNS_NO_ADDRESS, `${name} is not a resolvable host name: ${(err as Error).message}`)
    }
    const [a, aaaa] = await Promise.allSettled([this.#lookup(host, QType.A, qA), this.#lookup(host, QType.AAAA, qAAAA)])
    const ok = [a, aaaa].filter((r): r is PromiseFulfilledResult<Lookup> => r.status === 'fulfilled').map((r) => r.value)
    const errors = [a, aaaa].filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown)
    const seen = new Set<string>()
    const addresses: IpAddress[] = []
    let ttlMs = Infinity
    for (const l of ok) {
      if (l.addresses.length === 0) continue
      ttlMs = Math.min(ttlMs, l.ttlMs)
      for (const addr of l.addresses) {
        if (seen.has(addr.ip)) continue
        seen.add(addr.ip)
        addresses.push(addr)
      }
    }
    if (addresses.length > 0) {
      const ms = Math.max(0, Math.round(ttlMs))
      if (this.#resolved.size >= 10_000) this.#resolved.clear()
      this.#resolved.set(host, { addresses, expiresAt: now + ms })
      return { addresses, ttlMs: ms }
    }
    if (ok.some((l) => l.nxdomain)) throw new HangarError(ERROR_CODES.DNS_NO_ADDRESS, `${host}: NXDOMAIN`)
    if (errors.length > 0) {
      const herr = errors.map(toHangarError)
      throw herr.find((e) => e.code !== ERROR_CODES.DNS_TIMEOUT) ?? herr[0]!
    }
    throw new HangarError(ERROR_CODES.DNS_NO_ADDRESS, `${host} has no A or AAAA record`)
  }

  /** Closes the upstream client when this resolver created it. */
  close(): void {
    if (this.#owns) this.upstream.close()
  }

  #lookup(host: string, qtype: number, question: Buffer): Promise<Lookup> {
    const hit = this.cache.get(host, qtype)
    if (hit) return Promise.resolve(this.#extract(hit, host, qtype))
    const key = `${qtype}|${host}`
    let p = this.#inflight.get(key)
    if (!p) {
      p = this.upstream
        .query(question)
        .then((reply) => {
          const entry = this.cache.put(host, qtype, CLASS_IN, reply)
          if (!entry) throw new HangarError(ERROR_CODES.DNS_FAILED, `${host}: undecodable DNS reply`)
          return this.#extract(entry, host, qtype)
        })
        .finally(() => this.#inflight.delete(key))
      this.#inflight.set(key, p)
    }
    return p
  }

  #extract(entry: CachedResponse, host: string, qtype: number): Lookup {
    const ttlMs = Math.max(0, entry.expiresAt - this.cache.clock())
    if (entry.rcode === Rcode.NXDOMAIN) return { addresses: [], ttlMs, nxdomain: true }
    let msg: dnsPacket.DecodedPacket
    try {
      msg = dnsPacket.decode(entry.buf)
    } catch (err) {
      throw new HangarError(ERROR_CODES.DNS_FAILED, `${host}: undecodable DNS reply`, { cause: err })
    }
    const answers = msg.answers ?? []
    // The owner names that count: the name and its CNAME chain (RFC 1034 §3.6.2).
    const chain = new Set([host])
    for (let i = 0, grew = true; grew && i < MAX_CHAIN; i++) {
      grew = false
      for (const rr of answers) {
        if (rr.type === 'CNAME' && chain.has(rr.name.toLowerCase())) {
          const target = String(rr.data).toLowerCase().replace(/\.$/, '')
          if (!chain.has(target)) {
            chain.add(target)
            grew = true
          }
        }
      }
    }
    const want = qtype === QType.A ? 'A' : 'AAAA'
    const addresses: IpAddress[] = []
    for (const rr of answers) {
      if (rr.type !== want || !chain.has(rr.name.toLowerCase())) continue
      const ip = parseIpLiteral(String(rr.data))
      if (ip) addresses.push(ip)
    }
    return { addresses, ttlMs, nxdomain: false }
  }
}

function toHangarError(e: unknown): HangarError {
  if (e instanceof HangarError) return e
  return new HangarError(ERROR_CODES.DNS_FAILED, `DNS lookup failed: ${(e as Error)?.message ?? String(e)}`, { cause: e })
}
