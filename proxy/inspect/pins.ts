/**
 * Tool-definition pins of one provider (DESIGN.md §5 "a digest … per tool, pinned on first sight
 * (or from the profile)"). Three sources, first match wins:
 * 1. approvals of this run that override a profile pin (memory only: after a restart the profile
 *    is the truth again, and the operator must update it);
 * 2. the profile's `capabilities.tools.pins` (`sha256:<hex>`);
 * 3. pins learnt on first sight or by approval, persisted at `<dataDir>/tool-pins.json`.
 *
 * A learnt pin also keeps a short digest of each field (description, inputSchema, annotations) so
 * a drift can say which fields changed, even after a restart.
 *
 * The file is written atomically and durably (core/atomic-write.ts), mode 0600, by one writer
 * at a time; changes made while a write runs are coalesced into the next.
 * A write error is logged, never thrown into the data path. An unreadable or malformed file is
 * logged, moved aside to `tool-pins.json.corrupt`, and treated as empty.
 */
import { readFileSync, renameSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from '../../core/atomic-write.js'
import type { Logger } from '../../core/log.js'

/** The file name under the data dir. */
export const PINS_FILE = 'tool-pins.json'

/** Short digests (16 hex) of the canonical JSON of each digested field but the name. */
export interface FieldDigests {
  description: string
  inputSchema: string
  annotations: string
}

/** A learnt pin: the tool's digest (`sha256:<hex>`) and, when known, its per-field digests. */
export interface PinRecord {
  digest: string
  fields?: FieldDigests
}

/** Where the effective pin of a tool comes from. */
export type PinSource = 'approved' | 'profile' | 'learned'

/** The effective pin of a tool. */
export interface Pin {
  digest: string
  source: PinSource
  /** Per-field digests of the pinned definition, when this store has seen it. */
  fields?: FieldDigests
}

/** What `<dataDir>/tool-pins.json` holds (version 1). */
interface PinsFileV1 {
  version: 1
  tools: Record<string, PinRecord>
  /** Tools outside `expected_tools` that an operator approved. */
  undeclared_approved: string[]
}

const DIGEST = /^sha256:[0-9a-f]{64}$/
const SHORT = /^[0-9a-f]{16}$/

export interface PinStoreOptions {
  /** The sidecar's data dir for this provider; the file is `<dataDir>/tool-pins.json`. */
  dataDir: string
  /** `capabilities.tools.pins`: tool name → `sha256:<hex>`. */
  profilePins?: Readonly<Record<string, string>>
  log: Logger
}

/** The pins of one provider, loaded once (synchronously) and persisted in the background. */
export class PinStore {
  readonly #path: string
  readonly #dir: string
  readonly #log: Logger
  readonly #profile = new Map<string, string>()
  readonly #learned = new Map<string, PinRecord>()
  readonly #approved = new Map<string, PinRecord>()
  readonly #undeclaredApproved = new Set<string>()
  #writing: Promise<void> | undefined
  #dirty = false

  /** Reads `<dataDir>/tool-pins.json` (a missing file is empty; a corrupt one is logged, set aside and empty). */
  constructor(opts: PinStoreOptions) {
    this.#dir = opts.dataDir
    this.#path = join(opts.dataDir, PINS_FILE)
    this.#log = opts.log
    for (const [name, digest] of Object.entries(opts.profilePins ?? {})) this.#profile.set(name, digest)
    this.#load()
  }

  /** The effective pin of `name`, or undefined when it was never pinned. */
  pinOf(name: string): Pin | undefined {
    const approved = this.#approved.get(name)
    if (approved) return { digest: approved.digest, source: 'approved', ...(approved.fields && { fields: approved.fields }) }
    const learned = this.#learned.get(name)
    const profile = this.#profile.get(name)
    if (profile !== undefined) {
      // The learnt record describes the profile's definition only when their digests agree.
      const fields = learned?.digest === profile ? learned.fields : undefined
      return { digest: profile, source: 'profile', ...(fields && { fields }) }
    }
    if (learned) return { digest: learned.digest, source: 'learned', ...(learned.fields && { fields: learned.fields }) }
    return undefined
  }

  /**
   * Records a first-sight pin. Ignored when `name` already has a learnt pin. With a profile pin,
   * it is recorded only when it matches the profile (so a drifted definition is never learnt).
   */
  learn(name: string, record: PinRecord): void {
    if (this.#learned.has(name)) return
    const profile = this.#profile.get(name)
    if (profile !== undefined && profile !== record.digest) return
    this.#learned.set(name, record)
    this.#schedule()
  }

  /**
   * Pins `record` as the approved definition of `name` (persisted). When a profile pin differs,
   * the approval also overrides it for the life of this store; the profile wins again after a restart.
   * @returns true when a profile pin was overridden (tell the operator to update the profile).
   */
  approve(name: string, record: PinRecord): boolean {
    this.#learned.set(name, record)
    const profile = this.#profile.get(name)
    let overridden = false
    if (profile !== undefined && profile !== record.digest) {
      this.#approved.set(name, record)
      overridden = true
    } else {
      this.#approved.delete(name)
    }
    this.#schedule()
    return overridden
  }

  /** Records an operator's approval of a tool outside `expected_tools` (persisted). */
  approveUndeclared(name: string): void {
    if (this.#undeclaredApproved.has(name)) return
    this.#undeclaredApproved.add(name)
    this.#schedule()
  }

  /** True when an operator approved `name` although it is not in `expected_tools`. */
  isUndeclaredApproved(name: string): boolean {
    return this.#undeclaredApproved.has(name)
  }

  /** Every effective pin, name → `sha256:<hex>`. */
  snapshot(): Record<string, string> {
    const names = new Set([...this.#learned.keys(), ...this.#profile.keys(), ...this.#approved.keys()])
    const out: Array<[string, string]> = []
    for (const n of [...names].sort()) out.push([n, (this.pinOf(n) as Pin).digest])
    return Object.fromEntries(out)
  }

  /** True when `name` has a pin from any source. */
  has(name: string): boolean {
    return this.#learned.has(name) || this.#profile.has(name) || this.#approved.has(name)
  }

  /** Resolves when every change made so far is on disk (or its write failed and was logged). */
  async flush(): Promise<void> {
    while (this.#writing) await this.#writing
  }

  #load(): void {
    let text: string
    try {
      text = readFileSync(this.#path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
      this.#log.error({ err, path: this.#path }, 'tool pins could not be read; starting with none')
      return
    }
    const parsed = parsePinsFile(text)
    if (typeof parsed === 'string') {
      this.#log.error({ path: this.#path, problem: parsed }, 'tool pins file is corrupt; starting with none (moved aside to tool-pins.json.corrupt)')
      try {
        renameSync(this.#path, `${this.#path}.corrupt`)
      } catch {
        // best effort: the next write replaces it anyway
      }
      return
    }
    for (const [name, rec] of parsed.tools) this.#learned.set(name, rec)
    for (const name of parsed.undeclared) this.#undeclaredApproved.add(name)
  }

  #schedule(): void {
    this.#dirty = true
    if (this.#writing) return
    this.#writing = this.#writeLoop().finally(() => {
      this.#writing = undefined
    })
  }

  async #writeLoop(): Promise<void> {
    while (this.#dirty) {
      this.#dirty = false
      try {
        await this.#write(this.#serialise())
      } catch (err) {
        this.#log.error({ err, path: this.#path }, 'tool pins could not be written; they stay in memory')
      }
    }
  }

  #serialise(): string {
    const tools: Array<[string, PinRecord]> = [...this.#learned.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    // Object.fromEntries defines own properties: a tool named "__proto__" stays data.
    const file: PinsFileV1 = { version: 1, tools: Object.fromEntries(tools), undeclared_approved: [...this.#undeclaredApproved].sort() }
    return JSON.stringify(file, null, 2) + '\n'
  }

  /** Atomic, durable replace of the file, mode 0600. */
  async #write(text: string): Promise<void> {
    await mkdir(this.#dir, { recursive: true })
    await writeFileAtomic(this.#path, text, { mode: 0o600 })
  }
}

/**
 * Parses the pins file. Returns the learnt pins and approvals, or a string saying why the file is
 * not a valid version-1 pins file. Every key is read as an own property (no prototype pollution).
 */
export function parsePinsFile(text: string): { tools: Array<[string, PinRecord]>; undeclared: string[] } | string {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    return `not JSON: ${(err as Error).message}`
  }
  if (!isObject(json)) return 'not a JSON object'
  if (json.version !== 1) return `unknown version ${JSON.stringify(json.version)}`
  if (!isObject(json.tools)) return '"tools" is not an object'
  const tools: Array<[string, PinRecord]> = []
  for (const [name, rec] of Object.entries(json.tools)) {
    if (!isObject(rec) || typeof rec.digest !== 'string' || !DIGEST.test(rec.digest)) return `tools[${JSON.stringify(name)}]: digest must be "sha256:" and 64 lowercase hex digits`
    const record: PinRecord = { digest: rec.digest }
    if (rec.fields !== undefined) {
      const f = rec.fields
      if (!isObject(f) || ![f.description, f.inputSchema, f.annotations].every((d) => typeof d === 'string' && SHORT.test(d))) {
        return `tools[${JSON.stringify(name)}].fields: expected description, inputSchema and annotations as 16 hex digits`
      }
      record.fields = { description: f.description as string, inputSchema: f.inputSchema as string, annotations: f.annotations as string }
    }
    tools.push([name, record])
  }
  const undeclared = json.undeclared_approved ?? []
  if (!Array.isArray(undeclared) || !undeclared.every((n) => typeof n === 'string')) return '"undeclared_approved" is not an array of names'
  return { tools, undeclared: undeclared as string[] }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}
