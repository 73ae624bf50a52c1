/**
 * Compiles a provider's `capabilities` block into an {@link EgressPolicy} once at start-up.
 * The policy is read-only afterwards; run-time changes (quarantine) live in QuarantineState.
 */
import type { CapabilitiesConfig } from './capabilities.js'
import { DEFAULT_RULE_PORT, DEFAULT_SUBDOMAIN_BUDGET } from './capabilities.js'
import { compileCidr } from './cidr.js'
import { parseDnsTypeName } from './dns-types.js'
import { compileHostGlob } from './glob.js'
import { parseIpLiteral } from './ip.js'
import type { EgressPolicy, EgressRule, ProtectedEndpoints } from './egress-types.js'

/**
 * @param provider provider name (appears in signals and metrics)
 * @param caps the validated capabilities block
 * @param protectedEndpoints the sidecar's own listener ports / addresses and the aggregator's
 * @throws HangarError `HANGAR_GLOB_INVALID` / `HANGAR_CIDR_INVALID` (cannot happen for a loaded config)
 */
export function compilePolicy(
  provider: string,
  caps: CapabilitiesConfig,
  protectedEndpoints: ProtectedEndpoints = { ips: new Set(), ports: new Set() },
): EgressPolicy {
  const rules: EgressRule[] = caps.network.egress.map((r, i) => {
    const id = `egress[${i}]`
    if (r.cidr !== undefined) {
      const protocol = r.protocol ?? 'any'
      return { id, cidr: compileCidr(r.cidr), port: r.port ?? (protocol === 'tcp' ? 0 : DEFAULT_RULE_PORT[protocol]), protocol }
    }
    const protocol = r.protocol ?? 'https'
    // The config was validated (public suffixes included) when it was loaded.
    const host = compileHostGlob(r.host!, { checkPublicSuffix: false })
    const port = r.port ?? (protocol === 'tcp' ? 0 : DEFAULT_RULE_PORT[protocol])
    // A host rule that names an IP literal is a single-address CIDR.
    const ip = host.kind === 'exact' ? parseIpLiteral(host.base) : null
    if (ip) return { id, cidr: compileCidr(`${ip.ip}/${ip.family === 4 ? 32 : 128}`), port, protocol }
    const dnsTypes = compileDnsTypes(r.dns_types)
    return { id, host, port, protocol, ...(dnsTypes && { dnsTypes }) }
  })
  const budget = caps.network.subdomain_budget ?? DEFAULT_SUBDOMAIN_BUDGET
  return Object.freeze({
    provider,
    mode: caps.enforcement_mode,
    loopbackAllowed: caps.network.loopback_allowed,
    dnsAllowed: caps.network.dns_allowed,
    dnsResolveAny: caps.network.dns_resolve_any,
    rules: Object.freeze(rules),
    subdomainBudget: { maxNames: budget.max_names, windowMs: budget.window_s * 1000 },
    protectedEndpoints,
  })
}

/** QTYPE numbers of a rule's `dns_types` (validated at load; an unparseable entry is skipped). */
function compileDnsTypes(names: readonly string[] | undefined): ReadonlySet<number> | undefined {
  if (!names || names.length === 0) return undefined
  const out = new Set<number>()
  for (const n of names) {
    const p = parseDnsTypeName(n)
    if ('qtype' in p) out.add(p.qtype)
  }
  return out
}

/** The tcp rules that become transparent tcp forwards: exact host, a port, protocol tcp. */
export function tcpForwardRules(policy: EgressPolicy): EgressRule[] {
  return policy.rules.filter((r) => r.protocol === 'tcp' && r.host?.kind === 'exact' && r.port !== 0)
}
