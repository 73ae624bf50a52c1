/**
 * The images MCP Hangar runs in (`mcp-hangar images build`, sidecar/image-build.ts, builds and tags
 * them from a local base, never from a registry), and where this installation keeps its `security/` files.
 */
import { existsSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ERROR_CODES, HangarError } from '../core/errors.js'
import { HANGAR_VERSION } from '../core/version.js'

/** The sidecar image `compose inject` and `up` use unless told otherwise. */
export const DEFAULT_SIDECAR_IMAGE = `mcp-hangar/sidecar:${HANGAR_VERSION}`
/** The aggregator image `compose inject` uses unless told otherwise. */
export const DEFAULT_AGGREGATOR_IMAGE = `mcp-hangar/aggregator:${HANGAR_VERSION}`
/** The injector image (the sidecar image running `k8s webhook`, the admission webhook). */
export const DEFAULT_INJECTOR_IMAGE = `mcp-hangar/injector:${HANGAR_VERSION}`

/** Folders `security/` may be found in, relative to this module (dist/mcp-hangar.mjs, dist/compose/, or compose/ under tsx). */
const SECURITY_DIRS = ['../security', '../../security'] as const

/**
 * The absolute path of a file shipped under `security/` (the npm package and the images include it).
 * @throws HangarError `HANGAR_CONFIG_NOT_FOUND` when this installation lacks it.
 */
export function securityFile(rel: string, moduleUrl: string | URL = import.meta.url): string {
  const here = dirname(fileURLToPath(moduleUrl))
  for (const d of SECURITY_DIRS) {
    const p = resolve(here, d, rel)
    if (existsSync(p)) return p
  }
  throw new HangarError(ERROR_CODES.CONFIG_NOT_FOUND, `security/${rel} is missing from this installation (looked next to ${here})`)
}

/** The seccomp profile of provider and sidecar containers. */
export const SECCOMP_PROFILE = 'seccomp/mcp-provider.json'
