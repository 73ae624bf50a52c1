/**
 * The enterprise bootstrap: registers the enterprise implementations of the ports core defines
 * (core/ports.ts). Loaded at run time only, by cli/enterprise.ts, after the license decision
 * allowed it (a verified key, or the community grant); nothing outside `enterprise/` imports it.
 * Built into its own bundle, dist/mcp-hangar-enterprise.mjs, beside dist/mcp-hangar.mjs.
 */
import type { LicenseState, PortRegistry } from '../core/ports.js'
import { createAccess } from './auth/index.js'
import { createDeviation } from './behavioral/index.js'
import { createComplianceExport } from './compliance/index.js'
import { createIdentity } from './identity/index.js'

/** Marks this module's code in a bundle (a test checks the CLI bundle does not contain it). */
export const ENTERPRISE_BOOTSTRAP_MARK = 'mcp-hangar enterprise bootstrap'

/**
 * Sets each port whose feature `license` enables to its enterprise implementation
 * (`compliance_export` → SIEM export, `identity` → OIDC verification, `rbac` → roles and API keys on the
 * aggregator, `deviation_detection` → runtime deviation detection). A port whose feature is not licensed keeps its no-op
 * default.
 * @throws Error when `license.mode` is `unlicensed` (the loader never calls it then).
 */
export async function register(ports: PortRegistry, license: LicenseState): Promise<void> {
  if (license.mode === 'unlicensed') throw new Error(`${ENTERPRISE_BOOTSTRAP_MARK}: called without a license (${license.reason ?? 'unlicensed'})`)
  if (license.features.includes('compliance_export')) ports.compliance = createComplianceExport()
  if (license.features.includes('identity')) ports.identity = createIdentity()
  if (license.features.includes('rbac')) ports.access = createAccess()
  if (license.features.includes('deviation_detection')) ports.deviation = createDeviation()
  ports.enterprise = true
}
