/**
 * SIEM export of the audit log: the enterprise implementation of `ComplianceExportPort`.
 */
import { NOOP_COMPLIANCE, type ComplianceExportPort } from '../../core/ports.js'

/** A new compliance export (one per aggregator). */
export function createComplianceExport(): ComplianceExportPort {
  return NOOP_COMPLIANCE
}
