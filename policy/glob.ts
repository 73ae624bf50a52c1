/**
 * Host globs (docs/configuration.md §`network.egress[i]`; smokescreen's glob rules). Three forms only:
 * - `api.x.com`: exactly that name;
 * - `*.x.com`: any subdomain of x.com (one or more labels), never `x.com` itself;
 * - `.x.com`: `x.com` and any subdomain (ToolHive's leading-dot form).
 * Matching is on label boundaries: `*.x.com` never matches `evil-x.com`. Rejected at load:
 * `*`, `*.`, `*x.com`, `a.*.x.com`, `x.*`, a glob over a single label (`*.com`), IP literals with
 * a wildcard. The base is normalised like any host (host.ts), so globs may be written in Unicode.
 */
import { loadTransient } from '../core/transient-module.js'
import { ERROR_CODES, HangarError } from '../core/errors.js'
import { parseTarget } from './host.js'
import type { HostPattern } from './egress-types.js'

/**
 * Compiles a glob.
 * @throws HangarError `HANGAR_GLOB_INVALID` with a sentence that suggests the fix.
 */
export function compileHostGlob(glob: string, opts: { checkPublicSuffix?: boolean } = {}): HostPattern {
  const bad = (why: string): never => {
    throw new HangarError(ERROR_CODES.GLOB_INVALID, `"${glob}" is not a valid host glob: ${why}`)
  }
  let kind: HostPattern['kind'] = 'exact'
  let rest = glob
  if (glob.startsWith('*.')) {
    kind = 'subdomains'
    rest = glob.slice(2)
  } else if (glob.startsWith('.')) {
    kind = 'apex_and_subdomains'
    rest = glob.slice(1)
  }
  if (rest.includes('*')) {
    if (glob === '*') bad('a bare "*" would allow every host; list the hosts instead')
    if (/^[0-9.*]+$/.test(glob) || (glob.includes(':') && /^[0-9a-f:*]+$/i.test(glob))) bad('a wildcard cannot apply to an IP address; use a "cidr" rule (e.g. cidr: "10.0.0.0/24")')
    // Suggest the label-boundary form of what follows the last "*": `*x.com` → `*.x.com`.
    const after = glob.slice(glob.lastIndexOf('*') + 1).replace(/^\.+/, '')
    bad(after.includes('.')
      ? `only a leading "*." is supported; use "*.${after}" (subdomains) or ".${after}" (the domain and its subdomains)`
      : 'only a leading "*." is supported; name the domain, e.g. "*.example.com"')
  }
  if (rest === '' || rest === '.') bad('it names no domain; write e.g. "*.example.com", ".example.com" or "api.example.com"')
  const parsed = parseTarget(rest)
  if (!parsed.ok) bad(parsed.reason)
  const target = (parsed as { ok: true; target: { kind: string; host: string } }).target
  if (target.kind === 'ip') {
    if (kind !== 'exact') bad(`a wildcard cannot apply to an IP address; use a "cidr" rule (e.g. cidr: "${target.host}/${target.host.includes(':') ? 128 : 32}")`)
    return { source: target.host, kind, base: target.host }
  }
  if (kind !== 'exact' && !target.host.includes('.')) {
    bad(`a wildcard over the top-level domain "${target.host}" would match too much; name the registrable domain`)
  }
  // A wildcard over an ICANN public suffix (co.uk, com.au) spans many unrelated owners. Private
  // PSL entries (githubusercontent.com, s3.amazonaws.com) are one operator's and stay allowed.
  if (kind !== 'exact' && (opts.checkPublicSuffix ?? true) && isIcannPublicSuffix(target.host)) {
    bad(`"${target.host}" is a public suffix: a wildcard over it matches every domain registered under it; name the registrable domain`)
  }

  const source = kind === 'subdomains' ? `*.${target.host}` : kind === 'apex_and_subdomains' ? `.${target.host}` : target.host
  return { source, kind, base: target.host }
}

/** True when the normalised `host` matches `pattern` on a label boundary. Pure; no allocation. */
export function matchHost(pattern: HostPattern, host: string): boolean {
  const base = pattern.base
  switch (pattern.kind) {
    case 'exact':
      return host === base
    case 'subdomains':
      return host.length > base.length + 1 && host.endsWith(base) && host.charCodeAt(host.length - base.length - 1) === 46
    case 'apex_and_subdomains':
      return host === base || (host.length > base.length + 1 && host.endsWith(base) && host.charCodeAt(host.length - base.length - 1) === 46)
  }
}

/** True when `name` is itself an ICANN public suffix (tldts, loaded only while configs are validated). */
function isIcannPublicSuffix(name: string): boolean {
  const { getPublicSuffix } = loadTransient<typeof import('tldts')>('tldts')
  return getPublicSuffix(name) === name
}
