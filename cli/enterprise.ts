/**
 * The enterprise loader: the one place outside `enterprise/` that reaches the enterprise
 * modules, at run time only. It decides the license (core/license.ts), records it in the port
 * registry, and, when a key verified or the community grant applies, imports the enterprise
 * bootstrap by a computed URL and lets it register its implementations (docs/licensing.md).
 *
 * The URL is never a literal `import()` specifier, so neither the bundler nor the layer rule
 * follows it: the CLI bundle (dist/mcp-hangar.mjs) holds no enterprise code, and the enterprise
 * bundle (dist/mcp-hangar-enterprise.mjs) sits beside it.
 */
import { readEnv } from '../core/env.js'
import { decideLicense } from '../core/license.js'
import type { Logger } from '../core/log.js'
import { NOOP_COMPLIANCE, ports as processPorts, type LicenseState, type PortRegistry } from '../core/ports.js'
import { ENTERPRISE_BUNDLE } from '../sidecar/image-build.js'

/**
 * Where the enterprise bootstrap is, relative to the module running this loader:
 * - the CLI bundle `…/dist/mcp-hangar.mjs` → `…/dist/mcp-hangar-enterprise.mjs`;
 * - compiled `…/dist/cli/enterprise.js` → `…/dist/enterprise/bootstrap.js`;
 * - source `…/cli/enterprise.ts` (tsx, the tests) → `…/enterprise/bootstrap.ts`.
 */
export function enterpriseBootstrapUrl(moduleUrl: string | URL = import.meta.url): URL {
  const here = new URL(moduleUrl)
  if (here.pathname.endsWith('.mjs')) return new URL(`./${ENTERPRISE_BUNDLE}`, here)
  const ext = here.pathname.endsWith('.ts') ? '.ts' : '.js'
  return new URL(['..', 'enterprise', `bootstrap${ext}`].join('/'), here)
}

/** What {@link loadEnterprise} needs. */
export interface LoadEnterpriseOptions {
  /** How many providers the configuration names (the community grant and a license's limit count them). */
  providers: number
  log: Logger
  /** The license key. Default: `MCP_LICENSE_KEY`. */
  key?: string | undefined
  /** The registry to fill. Default: the process's (core/ports.ts). */
  registry?: PortRegistry
  /** The bootstrap module. Default: {@link enterpriseBootstrapUrl}. */
  bootstrapUrl?: URL
  /** Passed to the license check (tests only; the product trusts the embedded key). */
  license?: { now?: Date; publicKey?: string }
}

/**
 * Decides the license, sets `registry.license`, and loads the enterprise modules when allowed.
 * Logs exactly one of: `enterprise modules loaded` (info: mode, licensee, features, expiry),
 * `no license key found, using defaults` (warn), `license key refused: <reason>` (error), or,
 * when the bootstrap cannot be imported or its `register` fails, `enterprise modules failed to
 * load, using defaults` (error) after which every port is back at its no-op default.
 * @returns the license state (also in `registry.license`). Never throws.
 */
export async function loadEnterprise(o: LoadEnterpriseOptions): Promise<LicenseState> {
  const registry = o.registry ?? processPorts
  const key = 'key' in o ? o.key : readEnv().licenseKey
  const license = decideLicense({ key, providers: o.providers, ...o.license })
  registry.license = license
  registry.enterprise = false
  resetPorts(registry)
  if (license.mode === 'unlicensed') {
    const fields = { providers: o.providers, reason: license.reason, ...(license.licensee !== undefined && { licensee: license.licensee }) }
    if (key === undefined || key.trim() === '') o.log.warn(fields, 'no license key found, using defaults')
    else o.log.error(fields, `license key refused: ${license.reason}`)
    return license
  }
  const url = o.bootstrapUrl ?? enterpriseBootstrapUrl()
  try {
    // eslint-disable-next-line no-restricted-syntax -- the enterprise loader: the one computed import()
    const mod = (await import(url.href)) as { register?: unknown }
    if (typeof mod.register !== 'function') throw new Error(`${url.href} exports no register()`)
    await (mod.register as (p: PortRegistry, l: LicenseState) => Promise<void>)(registry, license)
    registry.enterprise = true
  } catch (e) {
    resetPorts(registry)
    o.log.error({ mode: license.mode, module: url.href, err: (e as Error)?.message ?? String(e) }, 'enterprise modules failed to load, using defaults')
    return license
  }
  o.log.info({ mode: license.mode, licensee: license.licensee ?? 'community grant', features: license.features, ...(license.expires && { expires: license.expires }), providers: o.providers }, 'enterprise modules loaded')
  return license
}

/** Every port back at its default: no-op compliance export, no identity, access or deviation module. */
function resetPorts(registry: PortRegistry): void {
  registry.enterprise = false
  registry.compliance = NOOP_COMPLIANCE
  delete registry.identity
  delete registry.access
  delete registry.deviation
}
