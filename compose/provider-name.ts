/**
 * Provider names for Compose services. Compose accepts service names of `[a-zA-Z0-9._-]+`
 * (Compose specification schema, `services` pattern); a provider name is 1 to 63 letters, digits,
 * `-` and `_`, starting with a letter or digit (the `providers` keys of hangar.yaml). A service
 * whose name is a valid provider name keeps it (unless it is one of {@link RESERVED_PROVIDER_NAMES});
 * another (`mcp.server`, `_x`, a 70-character name) gets its name with each run of other
 * characters replaced by `-`, leading `-`/`_` dropped, cut to fit, and a short digest of the service name appended when that collides with another service
 * or provider name (compared without case, as DNS compares names).
 */
import { createHash } from 'node:crypto'

/**
 * Provider names that would make a generated name collide with another generated object:
 * `aggregator` (its sidecar's volume `hangar_aggregator_data` is the aggregator's).
 */
export const RESERVED_PROVIDER_NAMES: readonly string[] = Object.freeze(['aggregator'])

/** The pattern of a provider name (hangar.yaml `providers` keys). */
export const PROVIDER_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/i

/**
 * Maps each of `labelled` (service names, in file order) to a provider name, unique among them
 * and different from every other name in `allServices` unless it is that service's own.
 * Deterministic: the same names give the same mapping.
 */
export function providerNames(labelled: readonly string[], allServices: readonly string[]): Map<string, string> {
  const out = new Map<string, string>()
  const taken = new Set([...allServices.map((s) => s.toLowerCase()), ...RESERVED_PROVIDER_NAMES])
  // valid names first, so that a mapped name never takes one a service already has
  for (const s of labelled) if (PROVIDER_NAME.test(s) && !RESERVED_PROVIDER_NAMES.includes(s.toLowerCase())) out.set(s, s)
  const used = new Set([...out.values()].map((v) => v.toLowerCase()))
  for (const s of labelled) {
    if (out.has(s)) continue
    const base = s.replace(/[^a-z0-9_-]+/gi, '-').replace(/^[^a-z0-9]+/i, '').slice(0, 63) || 'provider'
    const free = (n: string) => PROVIDER_NAME.test(n) && !taken.has(n.toLowerCase()) && !used.has(n.toLowerCase())
    let name = base
    if (!free(name)) {
      const tag = createHash('sha256').update(s).digest('hex')
      name = `${base.slice(0, 54)}-${tag.slice(0, 8)}`
      for (let i = 16; !free(name) && i <= tag.length; i += 8) name = `${base.slice(0, 62 - i)}-${tag.slice(0, i)}`
    }
    out.set(s, name)
    used.add(name.toLowerCase())
  }
  return out
}
