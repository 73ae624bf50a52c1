/**
 * IPv4 subnets of the internal networks `compose inject` and `up` create for container providers.
 *
 * Each provider gets a /28 (16 addresses): `.1` is Docker's gateway, `.2` the sidecar's static
 * address, and dynamic addresses come only from the upper half (`ip_range` `.8/29`), so nothing
 * Docker hands out can take the sidecar's address before it starts. The default pool is
 * 10.253.0.0/16, apart from 10.254.0.0/16 where `up` puts its network namespaces (local/plan.ts).
 * The /28 is picked from a hash of the project and service names, so the same file gives the same
 * subnets on every run, and probed past subnets the file already uses.
 */
import { createHash } from 'node:crypto'

/** Where internal networks are taken from unless a service names its own subnet. */
export const DEFAULT_SUBNET_POOL = '10.253.0.0/16'

/** An IPv4 network: `base` as a 32-bit unsigned integer, `prefix` 0–32. */
export interface Ipv4Net {
  base: number
  prefix: number
}

/** The addresses of one provider's internal network. */
export interface InternalSubnet {
  /** e.g. `10.253.18.32/28`. */
  subnet: string
  /** Docker's bridge address, `.1`. */
  gateway: string
  /** The sidecar's static address, `.2`: the provider's DNS server and proxy. */
  sidecar: string
  /** Where Docker's dynamic addresses come from: the upper half of the subnet. */
  ipRange: string
}

function parseIpv4(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s)
  if (!m) return undefined
  const parts = m.slice(1).map(Number)
  if (parts.some((p) => p > 255)) return undefined
  return ((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!
}

/** Dotted-quad form of a 32-bit address. */
export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.')
}

/**
 * Parses `a.b.c.d/p`. The address must be the network's first address (`10.0.0.5/24` is refused,
 * as Docker refuses it).
 * @throws Error with a message naming the problem.
 */
export function parseIpv4Cidr(s: string): Ipv4Net {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(s.trim())
  const base = m ? parseIpv4(m[1]!) : undefined
  const prefix = m ? Number(m[2]) : NaN
  if (base === undefined || !(prefix >= 0 && prefix <= 32)) throw new Error(`"${s}" is not an IPv4 CIDR (a.b.c.d/prefix)`)
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0
  if (((base & mask) >>> 0) !== base) throw new Error(`"${s}" has host bits set (the network is ${formatIpv4((base & mask) >>> 0)}/${prefix})`)
  return { base, prefix }
}

/** True when the two networks share an address. */
export function overlaps(a: Ipv4Net, b: Ipv4Net): boolean {
  const p = Math.min(a.prefix, b.prefix)
  const mask = p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0
  return ((a.base & mask) >>> 0) === ((b.base & mask) >>> 0)
}

/** The fixed addresses of a provider network (see the file comment). */
export function internalAddresses(net: Ipv4Net): InternalSubnet {
  const size = 2 ** (32 - net.prefix)
  const half = net.prefix <= 28 ? net.prefix + 1 : 29
  return {
    subnet: `${formatIpv4(net.base)}/${net.prefix}`,
    gateway: formatIpv4(net.base + 1),
    sidecar: formatIpv4(net.base + 2),
    ipRange: `${formatIpv4(net.base + size / 2)}/${half}`,
  }
}

/**
 * A service's own subnet (`mcp.hangar.subnet`): a /16 to /28, so that `.2` and a dynamic half exist,
 * outside 0.0.0.0/8, loopback, link-local and multicast/reserved space (RFC 6890).
 * @throws Error naming the problem.
 */
export function ownSubnet(cidr: string): InternalSubnet {
  const net = parseIpv4Cidr(cidr)
  if (net.prefix < 16 || net.prefix > 28) throw new Error(`"${cidr}": the subnet must be a /16 to /28`)
  // a provider network there would make the sidecar's address the provider's own loopback (or one
  // no host answers), leaving the provider's DNS and proxy to whatever the provider runs itself
  for (const special of ['0.0.0.0/8', '127.0.0.0/8', '169.254.0.0/16', '224.0.0.0/3']) {
    if (overlaps(net, parseIpv4Cidr(special))) throw new Error(`"${cidr}" is in ${special} (this network, loopback, link-local or multicast); choose a private or unused range`)
  }
  return internalAddresses(net)
}

/**
 * Picks a free /28 for `key` (project and service name) from `pool`, skipping every network in
 * `taken`. Deterministic: the same key and taken set give the same subnet.
 * @throws Error when the pool is not a valid CIDR of /8 to /28, or has no free /28.
 */
export function pickInternalSubnet(key: string, taken: readonly Ipv4Net[], pool = DEFAULT_SUBNET_POOL): InternalSubnet {
  const p = parseIpv4Cidr(pool)
  if (p.prefix < 8 || p.prefix > 28) throw new Error(`subnet pool "${pool}" must be a /8 to /28`)
  const slots = 2 ** (28 - p.prefix)
  const start = createHash('sha256').update(key).digest().readUInt32BE(0) % slots
  for (let i = 0; i < slots; i++) {
    const net: Ipv4Net = { base: p.base + ((start + i) % slots) * 16, prefix: 28 }
    if (!taken.some((t) => overlaps(t, net))) return internalAddresses(net)
  }
  throw new Error(`no free /28 left in the subnet pool ${pool}`)
}

/**
 * The /28 around a sidecar address the user chose (`sidecar.address`, e.g. a public-looking one
 * for a provider with its own SSRF guard): the sidecar gets exactly that address, which must sit in
 * the lower half of its /28 and not be its first two (network, gateway).
 * @throws Error naming the problem.
 */
export function subnetAround(address: string): InternalSubnet {
  const n = parseIpv4(address)
  if (n === undefined) throw new Error(`"${address}" is not an IPv4 address`)
  const base = n - (n % 16)
  const offset = n - base
  if (offset < 2 || offset > 7) throw new Error(`"${address}" must be the 3rd to 8th address of its /28 (${formatIpv4(base)}/28): .0 is the network, .1 Docker's gateway, the upper half Docker's pool`)
  return { ...internalAddresses({ base, prefix: 28 }), sidecar: address }
}
