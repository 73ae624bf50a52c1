/**
 * `profile suggest`: which subdomains of one registrable domain become one `*.` glob (the rule is
 * in the file comment of profiles/suggest.ts). Pure.
 */

/** Labels in a name: `a.b.c` → 3. */
export function labels(name: string): number {
  return name.split('.').length
}

/** Parents of `host` from its parent up to `domain` (inclusive). */
function parentsOf(host: string, domain: string): string[] {
  const out: string[] = []
  let h = host
  while (h !== domain && h.endsWith(`.${domain}`)) {
    h = h.slice(h.indexOf('.') + 1)
    out.push(h)
  }
  return out
}

/**
 * Deepest-first globbing of one group (same registrable `domain`, port, protocol): repeatedly the
 * deepest parent covering ≥ `threshold` remaining hosts (ties: more hosts, then name) becomes a
 * glob; an earlier glob under it is absorbed. Returns the globs and the hosts left exact.
 */
export function chooseGlobs(domain: string, hosts: readonly string[], threshold: number, valid: (parent: string) => boolean): { globs: Array<{ parent: string; hosts: string[] }>; exact: string[] } {
  const remaining = new Set(hosts)
  let globs: Array<{ parent: string; hosts: string[] }> = []
  for (;;) {
    const cands = new Map<string, string[]>()
    for (const h of remaining) for (const p of parentsOf(h, domain)) cands.set(p, [...(cands.get(p) ?? []), h])
    let best: { parent: string; hosts: string[] } | undefined
    for (const [parent, covered] of [...cands].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (covered.length < threshold || !valid(parent)) continue
      if (!best || labels(parent) > labels(best.parent) || (labels(parent) === labels(best.parent) && covered.length > best.hosts.length)) best = { parent, hosts: covered }
    }
    if (!best) break
    const b = best
    const absorbed = globs.filter((g) => g.parent.endsWith(`.${b.parent}`))
    globs = globs.filter((g) => !absorbed.includes(g))
    globs.push({ parent: b.parent, hosts: [...b.hosts, ...absorbed.flatMap((g) => g.hosts)].sort() })
    for (const h of b.hosts) remaining.delete(h)
  }
  return { globs, exact: [...remaining].sort() }
}
