/**
 * When the MCP conformance comparison (scripts/lib/conformance.mjs) can run here. It needs the
 * suite and its Node 24 (`npm ci --prefix tools/conformance`), the CLI bundle (`npm run build`)
 * and server-everything (`npm ci`). Outside CI a missing piece skips the test with the reason;
 * under CI (`CI=true`, .ci/run) it is a failure: CI installs and builds all three.
 */
import { fileURLToPath } from 'node:url'
import { readEnv } from '../../core/env.js'
import { conformancePaths, missingPrerequisites, type ConformancePaths } from '../../scripts/lib/conformance.mjs'

/** The repository root (absolute, with a trailing slash). */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url))

export interface ConformanceReadiness {
  paths: ConformancePaths
  /** Skip reason for tap (outside CI, something is missing), else false. */
  skip: string | false
  /** Under CI with something missing: the reason the test must fail; else undefined. */
  failure: string | undefined
}

/**
 * Whether the comparison can run, and what to do if not.
 * @param ci default: `CI` from the environment (core/env.ts)
 */
export function conformanceReadiness(ci = readEnv().ci): ConformanceReadiness {
  const paths = conformancePaths(ROOT)
  const missing = missingPrerequisites(paths)
  const why = missing.map((m) => m.message).join('; ')
  if (missing.length === 0) return { paths, skip: false, failure: undefined }
  return ci ? { paths, skip: false, failure: `CI=true but ${why}` } : { paths, skip: why, failure: undefined }
}
