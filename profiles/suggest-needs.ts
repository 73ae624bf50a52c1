/**
 * `profile suggest`, step one (profiles/suggest.ts): the baseline's counted egress records as
 * *needs*, one per (destination, port, rule protocol), with the protocol each needs and why.
 * Pure. The rules are in the file comment of suggest.ts (protocols, tunnels sharing a port,
 * tcp forward ports).
 */
import { sidecarSchema } from '../config/schema.js'
import { parseTarget } from '../policy/host.js'
import type { IpAddress, RuleProtocol } from '../policy/egress-types.js'
import type { Baseline, EgressRecord } from '../policy/baseline-schema.js'
import { destinationOf, printable } from './baseline/table.js'
import { countedAttempts, isCounted } from './suggest-diff.js'

/** One destination's need: (host or IP, port, rule protocol) and the records behind it. */
export interface Need {
  kind: 'name' | 'ip'
  /** Normalised host name, or canonical IP text. */
  target: string
  address?: IpAddress
  port: number
  protocol: RuleProtocol
  records: EgressRecord[]
  /** Why the protocol is what it is, when it is not the record's own. */
  why: string[]
}

export const PROTOCOL_ORDER: Record<RuleProtocol, number> = { https: 0, http: 1, tcp: 2, any: 3 }

/** The sidecar's default listener ports: never a tcp forward's port (config/load.ts crossCheck). */
function reservedPorts(): Set<number> {
  const s = sidecarSchema.parse({})
  const ports = [s.proxy, s.dns, s.transparent_http, s.transparent_tls, s.admin].filter((a): a is string => typeof a === 'string')
  return new Set(ports.map((a) => Number(a.slice(a.lastIndexOf(':') + 1))))
}

/** The rule protocol a record needs (see the file comment), with the reason when it is not obvious. */
function ruleProtocolOf(r: EgressRecord): { protocol: RuleProtocol; why?: string } {
  if (r.protocol !== 'tunnel') return { protocol: r.protocol }
  const c = r.content ?? {}
  const tls = (c.tls ?? 0) > 0
  const http = (c.http ?? 0) > 0
  if ((c.other ?? 0) > 0) return { protocol: 'tcp', why: 'CONNECT tunnels carried neither TLS nor HTTP: tcp' }
  if (tls && http) return { protocol: 'any', why: 'CONNECT tunnels carried both TLS and plain HTTP: any' }
  if (tls) return { protocol: 'https' }
  if (http) return { protocol: 'http' }
  return r.port === 443
    ? { protocol: 'https', why: 'no tunnel content was recorded: https on port 443' }
    : { protocol: 'tcp', why: `no tunnel content was recorded: tcp on port ${r.port}` }
}

/** True when a CONNECT tunnel is behind the need. */
export function hasTunnel(n: Need): boolean {
  return n.records.some((r) => r.protocol === 'tunnel')
}

function needsForward(n: Need): boolean {
  return n.records.some((r) => r.protocol === 'tcp' || (r.via.tcp_forward ?? 0) > 0)
}

/** Merges needs with the same (kind, target, port, protocol). */
function mergeNeeds(needs: Need[]): Need[] {
  const m = new Map<string, Need>()
  for (const n of needs) {
    const k = `${n.kind}|${n.target}|${n.port}|${n.protocol}`
    const o = m.get(k)
    if (o) {
      o.records.push(...n.records)
      for (const w of n.why) if (!o.why.includes(w)) o.why.push(w)
    } else m.set(k, { ...n, records: [...n.records], why: [...n.why] })
  }
  return [...m.values()]
}

/**
 * Per (destination, port): when a CONNECT record shares the port with a need of another protocol,
 * one rule of tcp (if any needs tcp) or any serves them all (a tunnel takes the first matching rule).
 */
function unifyTunnels(needs: Need[]): Need[] {
  const byDest = new Map<string, Need[]>()
  for (const n of needs) {
    const k = `${n.kind}|${n.target}|${n.port}`
    byDest.set(k, [...(byDest.get(k) ?? []), n])
  }
  const out: Need[] = []
  for (const list of byDest.values()) {
    if (list.length < 2 || !list.some(hasTunnel)) {
      out.push(...list)
      continue
    }
    const protos = [...new Set(list.map((n) => n.protocol))].sort((a, b) => PROTOCOL_ORDER[a] - PROTOCOL_ORDER[b])
    const protocol: RuleProtocol = protos.includes('tcp') ? 'tcp' : 'any'
    out.push({
      ...list[0]!, protocol, records: list.flatMap((n) => n.records), why: [...new Set(list.flatMap((n) => n.why)),
        `CONNECT tunnels and other attempts on this port need ${protos.join(' and ')}: one ${protocol} rule (a tunnel uses the first rule matching its host and port)`],
    })
  }
  return out
}

/**
 * tcp forwards: one per port, never on a default listener port. A tcp need that does not itself
 * come from a tcp forward becomes `any` when its port is reserved or shared with other hosts.
 */
function resolveForwardPorts(needs: Need[], notes: string[]): Need[] {
  const reserved = reservedPorts()
  const byPort = new Map<number, Need[]>()
  for (const n of needs) if (n.kind === 'name' && n.protocol === 'tcp') byPort.set(n.port, [...(byPort.get(n.port) ?? []), n])
  for (const [port, list] of byPort) {
    const forwards = list.filter(needsForward)
    if (forwards.length > 1) notes.push(`port ${port} was a tcp forward to ${forwards.map((n) => n.target).join(', ')}: a port forwards to one host only, so the config will refuse these rules together; keep one`)
    for (const n of list) {
      if (needsForward(n)) continue
      if (reserved.has(port)) {
        n.protocol = 'any'
        n.why.push(`protocol any, not tcp: port ${port} is one of the sidecar's own listener ports by default, where no tcp forward can listen`)
      } else if (list.length > 1) {
        n.protocol = 'any'
        n.why.push(`protocol any, not tcp: ${list.length} hosts use port ${port} and a tcp forward listens for one host per port`)
      }
    }
  }
  return mergeNeeds(needs)
}

/** The counted records as needs; the rest sorted into `denied` (never worked) or skipped with a note. */
export function collectNeeds(b: Baseline, notes: string[]): { needs: Need[]; denied: EgressRecord[] } {
  const needs: Need[] = []
  const denied: EgressRecord[] = []
  for (const r of b.egress) {
    if (countedAttempts(r.actions) === 0) {
      denied.push(r)
      continue
    }
    if (!isCounted(r)) {
      notes.push(`${destinationOf(r)}: port ${r.port} is not a destination port; not included`)
      continue
    }
    const p = parseTarget(r.host ?? r.ip ?? '')
    if (!p.ok) {
      notes.push(`${printable(destinationOf(r))}: ${p.reason}; not included`)
      continue
    }
    const { protocol, why } = ruleProtocolOf(r)
    const t = p.target
    needs.push({ kind: t.kind, target: t.host, ...(t.kind === 'ip' && { address: t.address }), port: r.port, protocol, records: [r], why: why ? [why] : [] })
  }
  return { needs: resolveForwardPorts(unifyTunnels(mergeNeeds(needs)), notes), denied }
}
