/**
 * Shared pieces of the parser fuzzers (test/fuzz/props/*.ts): the target shape both the quick
 * tap profile (test/fuzz/*.test.ts) and the long run (`npm run fuzz`, benchmarks/fuzz.ts) execute,
 * a byte mutator for "valid-ish" inputs, and the per-input time bound.
 */
import fc from 'fast-check'

/** One property of a parser: fast-check runs it once per generated input. */
export interface FuzzProperty {
  /** What the property asserts, one sentence (the test name and the report row). */
  name: string
  /** Share of the parser's runs relative to its other properties (default 1). */
  weight?: number
  /** A fresh fast-check property (sync or async). */
  property: () => fc.IRawProperty<unknown, boolean>
}

/** A parser under fuzzing: its properties, and optional async setup (e.g. capturing real inputs). */
export interface FuzzTarget {
  /** Short name (`dns-wire`, `tls-sni`, …): the test file and the report row. */
  parser: string
  /** The source file(s) fuzzed, for the report. */
  source: string
  /** Runs once before any property (e.g. captures real ClientHellos over loopback). */
  prepare?: () => Promise<void>
  /** Wraps each synchronous property run (e.g. keeps modules loaded across inputs). */
  around?: <T>(run: () => T) => T
  properties: FuzzProperty[]
}

/** Longest time one input may take, ms, before the input is re-run to tell a hang from a GC pause. */
export const MAX_MS_PER_INPUT = 100

/**
 * Runs `fn` and fails when it takes longer than `maxMs` twice in a row (a real super-linear case
 * repeats; a GC pause or a busy shared machine does not).
 * @throws Error naming the time taken, when both runs are over the bound; whatever `fn` throws.
 */
export function withinTime<T>(fn: () => T, maxMs = MAX_MS_PER_INPUT): T {
  const t0 = performance.now()
  const out = fn()
  const dt = performance.now() - t0
  if (dt <= maxMs) return out
  const t1 = performance.now()
  fn()
  const dt2 = performance.now() - t1
  if (dt2 > maxMs) throw new Error(`took ${dt.toFixed(1)} ms then ${dt2.toFixed(1)} ms (bound ${maxMs} ms)`)
  return out
}

/** Async {@link withinTime}. */
export async function withinTimeAsync<T>(fn: () => Promise<T>, maxMs = MAX_MS_PER_INPUT): Promise<T> {
  const t0 = performance.now()
  const out = await fn()
  const dt = performance.now() - t0
  if (dt <= maxMs) return out
  const t1 = performance.now()
  await fn()
  const dt2 = performance.now() - t1
  if (dt2 > maxMs) throw new Error(`took ${dt.toFixed(1)} ms then ${dt2.toFixed(1)} ms (bound ${maxMs} ms)`)
  return out
}

/** Byte values that sit on length and flag boundaries (0x3f/0x40/0xc0: DNS label types; 0x80: high bit). */
const INTERESTING = [0x00, 0x01, 0x02, 0x03, 0x0a, 0x0d, 0x16, 0x20, 0x3a, 0x3f, 0x40, 0x7f, 0x80, 0xc0, 0xfe, 0xff]

type Mutation =
  | { kind: 'set'; at: number; value: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; n: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'duplicate'; at: number; n: number }

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.oneof(fc.constantFrom(...INTERESTING), fc.nat(255)) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 8 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 32 }) }) },
)

function applyMutation(b: Buffer, m: Mutation): Buffer {
  if (b.length === 0) return m.kind === 'insert' ? Buffer.from(m.bytes) : b
  const at = m.at % b.length
  switch (m.kind) {
    case 'set': {
      const c = Buffer.from(b)
      c[at] = m.value
      return c
    }
    case 'insert':
      return Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)])
    case 'delete':
      return Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + m.n))])
    case 'truncate':
      return b.subarray(0, at)
    case 'duplicate':
      return Buffer.concat([b.subarray(0, at + Math.min(m.n, b.length - at)), b.subarray(at)])
  }
}

/** `base` with 1–`maxOps` byte mutations (set to a boundary value, insert, delete, truncate, duplicate a run). */
export function mutated(base: fc.Arbitrary<Buffer>, maxOps = 4): fc.Arbitrary<Buffer> {
  return fc.tuple(base, fc.array(mutationArb, { minLength: 1, maxLength: maxOps })).map(([b, ms]) => ms.reduce(applyMutation, b))
}

/** Raw bytes, sometimes starting with `prefix` (so the parser gets past its first check). */
export function rawBytes(maxLength: number, prefixes: readonly Buffer[] = []): fc.Arbitrary<Buffer> {
  const raw = fc.uint8Array({ maxLength }).map((u) => Buffer.from(u))
  if (!prefixes.length) return raw
  return fc.oneof(raw, fc.tuple(fc.constantFrom(...prefixes), raw).map(([p, r]) => Buffer.concat([p, r])))
}

/** Cut points that split `length` bytes into chunks (sorted, distinct, inside (0, length)). */
export function splits(length: number, max = 8): fc.Arbitrary<number[]> {
  if (length < 2) return fc.constant([])
  return fc.uniqueArray(fc.integer({ min: 1, max: length - 1 }), { maxLength: max }).map((a) => a.sort((x, y) => x - y))
}

/** `buf` cut at `cuts` ({@link splits}). */
export function chunk(buf: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const out: Uint8Array[] = []
  let prev = 0
  for (const c of cuts) {
    out.push(buf.subarray(prev, c))
    prev = c
  }
  out.push(buf.subarray(prev))
  return out
}

/** Runs of each of a target's properties for a parser budget: `runs` split by weight, rounded up (so they add up to at least `runs`). */
export function runsFor(target: FuzzTarget, runs: number): number[] {
  const total = target.properties.reduce((s, p) => s + (p.weight ?? 1), 0)
  return target.properties.map((p) => Math.max(1, Math.ceil((runs * (p.weight ?? 1)) / total)))
}
