/**
 * Compose `ports` entries of a provider service: which container port they publish, and the same
 * entry retargeted to the sidecar's MCP ingress. Both syntaxes of the Compose specification
 * ("ports"): short strings `[HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]` (IPv6 host IPs in
 * brackets) and the long form `{target, published, host_ip, protocol, mode}`.
 */

/** One `ports` entry as read. */
export interface PortEntry {
  /** The container port, or undefined when it is not a plain number (a range, a `${VAR}`). */
  target: number | undefined
  /** `tcp` (default) or `udp`. */
  protocol: string
  /** The entry as written, for messages. */
  raw: string
}

function splitShort(s: string): { left: string; target: string; protocol: string } {
  let rest = s.trim()
  let protocol = 'tcp'
  const slash = rest.lastIndexOf('/')
  if (slash >= 0) {
    protocol = rest.slice(slash + 1).toLowerCase()
    rest = rest.slice(0, slash)
  }
  const colon = rest.lastIndexOf(':')
  // an IPv6 host IP without host port would end in "]"; a colon inside brackets is not a separator
  if (colon < 0 || rest.lastIndexOf(']') > colon) return { left: '', target: rest, protocol }
  return { left: rest.slice(0, colon), target: rest.slice(colon + 1), protocol }
}

/** Reads one `ports` entry (string, number or long-form map). */
export function readPort(entry: unknown): PortEntry {
  if (typeof entry === 'number') return { target: entry, protocol: 'tcp', raw: String(entry) }
  if (typeof entry === 'string') {
    const { target, protocol } = splitShort(entry)
    return { target: /^\d{1,5}$/.test(target) ? Number(target) : undefined, protocol, raw: entry }
  }
  if (entry && typeof entry === 'object') {
    const e = entry as Record<string, unknown>
    const t = e.target
    const target = typeof t === 'number' ? t : typeof t === 'string' && /^\d{1,5}$/.test(t) ? Number(t) : undefined
    return { target, protocol: typeof e.protocol === 'string' ? e.protocol.toLowerCase() : 'tcp', raw: JSON.stringify(entry) }
  }
  return { target: undefined, protocol: 'tcp', raw: String(entry) }
}

/** The same entry with its container port replaced by `port` (the sidecar's MCP ingress). */
export function retargetPort(entry: unknown, port: number): unknown {
  if (typeof entry === 'number') return String(port)
  if (typeof entry === 'string') {
    const { left } = splitShort(entry)
    return left ? `${left}:${port}` : String(port)
  }
  if (entry && typeof entry === 'object') return { ...(entry as Record<string, unknown>), target: port }
  return entry
}

/** Reads the container ports of an `expose` list (numbers or strings; ranges and protocols give undefined). */
export function readExpose(expose: unknown): Array<number | undefined> {
  if (!Array.isArray(expose)) return []
  return expose.map((e) => (typeof e === 'number' ? e : typeof e === 'string' && /^\d{1,5}$/.test(e.trim()) ? Number(e.trim()) : undefined))
}
