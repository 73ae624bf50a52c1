/**
 * Types of scripts/lib/conformance.mjs (the MCP conformance transparency comparison), for the
 * TypeScript tests (test/e2e/conformance.test.ts). Keep in step with the module.
 */

export type Target = 'direct' | 'remote' | 'subprocess' | 'per_session'
export type SidecarTarget = Exclude<Target, 'direct'>
export type CheckStatus = 'SUCCESS' | 'FAILURE' | 'WARNING' | 'INFO' | (string & {})

/** What is compared of one check (see checkKey). */
export interface CheckKey {
  id: string
  status: CheckStatus
  errorMessage?: string
}

export interface CheckCounts {
  success: number
  failure: number
  warning: number
  info: number
}

/** One accepted difference of one check (see KNOWN_DIFFERENCES). */
export interface KnownDifference {
  scenario: string
  check: string
  direct: CheckStatus
  sidecar: CheckStatus
  /** Sidecar targets it applies to; all when absent. */
  targets?: SidecarTarget[]
  /** The sidecar's error message must contain this. */
  messageIncludes?: string
  reason: string
}

/** A scenario whose checks belong to the HTTP server's own stream handling (the sidecar's in subprocess mode). */
export interface TransportOwned {
  scenario: string
  targets: SidecarTarget[]
  reason: string
}

export interface Difference {
  /** Index of the check in the scenario's list; -1 when a whole result is missing. */
  index: number
  direct: unknown
  other: unknown
  /** Set when the difference is a {@link KnownDifference}: its reason. */
  known?: string
}

export interface Comparison {
  verdict: 'same' | 'known' | 'differs'
  differences: Difference[]
}

export interface TargetResult {
  checks: CheckKey[]
  counts: CheckCounts
}

export interface ScenarioRow {
  scenario: string
  /** Per target; null when the suite wrote no checks.json for the scenario. */
  results: Partial<Record<Target, TargetResult | null>>
  /** Per sidecar target, compared with direct. */
  comparisons: Partial<Record<SidecarTarget, Comparison>>
  verdict: 'same' | 'known' | 'differs'
}

export type ServerName = 'everything' | 'fixture'

/** The comparison for one server. */
export interface ConformanceReport {
  targets: Target[]
  /** No scenario differs (known differences allowed). */
  ok: boolean
  scenarios: ScenarioRow[]
}

export interface ServerReport extends ConformanceReport {
  server: ServerName
  label: string
}

export interface ConformanceRun {
  suite: string
  /** Every server's report is ok. */
  ok: boolean
  servers: ServerReport[]
  outDir: string
  /** Per `<server>-<target>`: how the suite run ended. */
  runs: Record<string, { code: number | null; timedOut: boolean }>
}

export interface ConformancePaths {
  root: string
  node: string
  suite: string
  hangar: string
  everything: string
  fixture: string
}

export interface RunConformanceOptions {
  /** Repository root. */
  root: string
  /** Base environment of every child process (core/env.ts providerEnv()). */
  env: Record<string, string>
  /** Default: a new folder under the OS temp dir. */
  outDir?: string
  /** Servers; default both. */
  servers?: readonly ServerName[]
  /** Sidecar targets; default all three. */
  sidecars?: readonly SidecarTarget[]
  /** `all` (default) or `active`. */
  suite?: string
  /** One suite run against one target, ms. Default 150000. */
  runTimeoutMs?: number
  /** Progress lines. */
  log?: (line: string) => void
}

export const SUITE_VERSION: string
export const TARGETS: readonly ['direct', 'remote', 'subprocess', 'per_session']
export const TARGET_LABELS: Record<Target, string>
export const KNOWN_DIFFERENCES: KnownDifference[]
export const TRANSPORT_OWNED: TransportOwned[]
export const SERVERS: Record<ServerName, { label: string }>

export function conformancePaths(root: string): ConformancePaths
export function missingPrerequisites(paths: ConformancePaths): Array<{ kind: 'suite' | 'build' | 'server'; message: string }>
export function normalizeMessage(text: string): string
export function checkKey(check: { id: string; status: string; errorMessage?: string }): CheckKey
export function parseScenarioList(text: string): string[]
export function readResults(dir: string): Map<string, Array<Record<string, unknown>>>
export function countChecks(checks: Array<{ status: string }>): CheckCounts
export function knownDifference(scenario: string, target: string, direct: CheckKey, other: CheckKey, known?: KnownDifference[]): KnownDifference | undefined
export function transportOwned(scenario: string, target: string, owned?: TransportOwned[]): TransportOwned | undefined
export function compareScenario(scenario: string, direct: CheckKey[] | undefined, other: CheckKey[] | undefined, target?: string, known?: KnownDifference[], owned?: TransportOwned[]): Comparison
export function buildReport(scenarios: string[], results: Partial<Record<Target, Map<string, Array<Record<string, unknown>>>>>, known?: KnownDifference[]): ConformanceReport
export function formatTable(report: ConformanceReport): string
export function freePort(): Promise<number>
export function sidecarConfig(target: SidecarTarget, o: { endpoint?: string; command?: string[]; dataDir: string }): string
export function runConformance(opts: RunConformanceOptions): Promise<ConformanceRun>
