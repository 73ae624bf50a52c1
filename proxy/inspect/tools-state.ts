/**
 * What the sidecar knows about a provider's tools (docs/mcp-ingress.md §Inspection): the last definition seen of each
 * tool (for the inputSchema check), its digest against its pin (drift), and whether it is outside
 * `expected_tools` (undeclared). No I/O of its own: pins live in a {@link PinStore}.
 *
 * Drift is derived, not latched: a tool is drifted while its last-seen digest differs from its
 * effective pin. It is reported once per tool per new digest; a definition that returns to its pin
 * is no longer drifted; {@link ToolsState.approve} re-pins the current definition.
 */
import { createHash } from 'node:crypto'
import { canonicalJson, toolDigest } from '../../policy/tool-digest.js'
import type { FieldDigests, Pin, PinStore } from './pins.js'

/** An MCP `Tool` as listed by `tools/list` (spec "Tools" §Tool): `name` is required, the rest is read when present. */
export interface ToolDefinition {
  name: string
  description?: unknown
  inputSchema?: unknown
  annotations?: unknown
  [field: string]: unknown
}

/** A listed tool with its digests. */
export interface SeenTool {
  readonly tool: ToolDefinition
  /** `sha256:<hex>` of name, description, inputSchema, annotations ({@link toolDigest}). */
  readonly digest: string
  readonly fields: FieldDigests
}

/** A tool whose definition differs from its pin, reported once per new digest. */
export interface DriftEvent {
  name: string
  pin: Pin
  current: SeenTool
  /** The fields that changed, or null when the pinned definition was never seen (a profile pin). */
  fields: Array<keyof FieldDigests> | null
}

/** What recording one listed tool found. */
export interface RecordResult {
  seen: SeenTool
  /** First sight of this drift (this tool, this digest). */
  drift?: DriftEvent
  /** First sight of this tool outside `expected_tools`. */
  firstUndeclared?: boolean
  /** The tool had no pin and was pinned now. */
  pinned?: boolean
}

const short = (v: unknown): string => createHash('sha256').update(canonicalJson(v ?? null), 'utf8').digest('hex').slice(0, 16)

/**
 * Digests one tool definition. Pure.
 * @throws TypeError when the definition is not JSON (a cycle, a bigint): never for parsed JSON.
 */
export function describeTool(tool: ToolDefinition): SeenTool {
  return {
    tool,
    digest: `sha256:${toolDigest(tool)}`,
    fields: { description: short(tool.description), inputSchema: short(tool.inputSchema), annotations: short(tool.annotations) },
  }
}

/** The fields whose digests differ, in a fixed order; null when the pinned field digests are unknown. Pure. */
export function changedFields(pinned: FieldDigests | undefined, current: FieldDigests): Array<keyof FieldDigests> | null {
  if (!pinned) return null
  return (['description', 'inputSchema', 'annotations'] as const).filter((f) => pinned[f] !== current[f])
}

/** True when `v` looks like a listed tool: an object with a non-empty string `name`. */
export function isToolDefinition(v: unknown): v is ToolDefinition {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && typeof (v as { name?: unknown }).name === 'string' && (v as { name: string }).name !== ''
}

export interface ToolsStateOptions {
  /** `capabilities.tools.expected_tools`: undefined = nothing is undeclared. */
  expectedTools?: readonly string[]
  /** `capabilities.tools.schema_drift_alert`: false disables drift detection (no signal, no hold; pins are kept). */
  driftDetection: boolean
}

/** The tool knowledge of one provider. */
export class ToolsState {
  /**
   * True until a full list was fetched, and again after `notifications/tools/list_changed`:
   * a call naming an unseen tool may then consult the provider's list.
   */
  stale = true
  readonly #pins: PinStore
  readonly #expected: ReadonlySet<string> | undefined
  readonly #drift: boolean
  readonly #seen = new Map<string, SeenTool>()
  readonly #driftReported = new Map<string, string>()
  readonly #undeclaredReported = new Set<string>()

  constructor(pins: PinStore, opts: ToolsStateOptions) {
    this.#pins = pins
    this.#expected = opts.expectedTools === undefined ? undefined : new Set(opts.expectedTools)
    this.#drift = opts.driftDetection
  }

  /** The last definition seen of `name`. */
  get(name: string): SeenTool | undefined {
    return this.#seen.get(name)
  }

  /** True when `name` is known by a listing or a pin (bounded label sets for metrics). */
  knows(name: string): boolean {
    return this.#seen.has(name) || this.#pins.has(name) || (this.#expected?.has(name) ?? false)
  }

  /**
   * Records one listed definition: pins it on first sight, reports drift once per new digest and
   * an undeclared tool once.
   */
  record(seen: SeenTool): RecordResult {
    const name = seen.tool.name
    this.#seen.set(name, seen)
    const out: RecordResult = { seen }
    const pin = this.#pins.pinOf(name)
    if (!pin) {
      this.#pins.learn(name, { digest: seen.digest, fields: seen.fields })
      out.pinned = true
    } else if (this.#drift && pin.digest !== seen.digest) {
      if (this.#driftReported.get(name) !== seen.digest) {
        this.#driftReported.set(name, seen.digest)
        out.drift = { name, pin, current: seen, fields: changedFields(pin.fields, seen.fields) }
      }
    } else if (pin.digest === seen.digest) {
      // Back at its pin: a later change is news again. A profile pin matched for the first time
      // learns the field digests, so a later drift can name its fields.
      this.#driftReported.delete(name)
      if (pin.source === 'profile' && !pin.fields) this.#pins.learn(name, { digest: seen.digest, fields: seen.fields })
    }
    if (this.isUndeclared(name) && !this.#undeclaredReported.has(name)) {
      this.#undeclaredReported.add(name)
      out.firstUndeclared = true
    }
    return out
  }

  /** The drift of `name` now: its pin and current definition, when they differ and detection is on. */
  driftOf(name: string): { pin: Pin; current: SeenTool } | undefined {
    if (!this.#drift) return undefined
    const current = this.#seen.get(name)
    if (!current) return undefined
    const pin = this.#pins.pinOf(name)
    return pin && pin.digest !== current.digest ? { pin, current } : undefined
  }

  /** True when `expected_tools` is set, does not name `name`, and no operator approved it. */
  isUndeclared(name: string): boolean {
    return this.#expected !== undefined && !this.#expected.has(name) && !this.#pins.isUndeclaredApproved(name)
  }

  /**
   * Re-pins the current definitions of `names` (default: every tool seen) and approves those
   * outside `expected_tools`. Returns the names whose profile pin was overridden for this run.
   */
  approve(names?: readonly string[]): string[] {
    const overridden: string[] = []
    for (const name of names ?? [...this.#seen.keys()]) {
      const seen = this.#seen.get(name)
      if (seen) {
        if (this.#pins.approve(name, { digest: seen.digest, fields: seen.fields })) overridden.push(name)
        this.#driftReported.delete(name)
      }
      if (this.isUndeclared(name)) this.#pins.approveUndeclared(name)
    }
    return overridden
  }

  /** Names seen, drifted and undeclared now (each sorted). */
  summary(): { tools: string[]; drifted: string[]; undeclared: string[] } {
    const tools = [...this.#seen.keys()].sort()
    return {
      tools,
      drifted: tools.filter((n) => this.driftOf(n) !== undefined),
      undeclared: tools.filter((n) => this.isUndeclared(n)),
    }
  }
}
