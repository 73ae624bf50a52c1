/**
 * Kept files: what is left of a rotated audit file once its observations were rotated out.
 *
 * A rotated file `audit-<base>.jsonl` that leaves the `keepFiles` window (or must make room under
 * the size budget) is compacted into `kept-<base, 12 digits>.jsonl`:
 * - line 1, the header: `{"schema":"hangar.audit-kept/v1","base":B,"lines":N,"received_until":T,"seqs":[…]}`:
 *   `base` and `lines` the rotated file's first sequence number and line count (so sequence
 *   numbers stay stable and are never reused), `received_until` the rotated file's last write
 *   (RFC 3339, the aggregator's clock: every line in it was received no later), `seqs` the sequence
 *   number of each kept line, in order;
 * - then the kept signal lines, byte for byte as they were in the audit log (the same JSON a SIEM read).
 *
 * The compaction writes the kept file atomically and durably (core/atomic-write.ts: a temporary
 * file, fsync, rename, fsync of the directory) and only then deletes the rotated file: a crash leaves either the rotated file or both, never
 * neither. The replay reads each sequence number once: a kept file with the rotated file's own
 * base is skipped for the complete rotated file (the next prune compacts it again); a rotated
 * file inside an older kept file's span (merged, see {@link compactRotated}) is skipped for the
 * kept file (the next prune deletes it).
 *
 * Consecutive compactions merge into the newest kept file while it stays within a size (the
 * audit log passes `maxBytes`) and spans at most {@link MERGE_SPAN_MS} of receipt times
 * (`received_from` … `received_until`), so the number of kept files grows with the retained bytes
 * and days, not with the number of rotations, and a merged record expires at most a day late.
 *
 * The retention sweep deletes a kept file once `received_until` + retention has passed: the
 * retention runs on the aggregator's clock, so a sidecar with a skewed clock can neither shorten
 * nor stretch it.
 */
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { Signal } from '../../signals/types.js'
import { fsyncDir, writeFileAtomic } from '../../core/atomic-write.js'
import { removeFile } from './audit-files.js'
import { parseAuditLine } from './audit-lines.js'
import { readLineBatches } from './line-reader.js'

export const KEPT_SCHEMA = 'hangar.audit-kept/v1'
/** Receipt times one kept file may span when compactions merge into it, ms (1 day). */
export const MERGE_SPAN_MS = 24 * 3600 * 1000
const KEPT = /^kept-(\d{1,15})\.jsonl$/

/** The header of a kept file. */
export interface KeptHeader {
  schema: typeof KEPT_SCHEMA
  /** Sequence number of the rotated file's first line. */
  base: number
  /** Lines the rotated file had (kept or not). */
  lines: number
  /** RFC 3339: the rotated file's last write; every kept line was received no later. */
  received_until: string
  /** RFC 3339: `received_until` of the first rotated file merged into this one (absent: the same). */
  received_from?: string
  /** Sequence number of each kept line, ascending. */
  seqs: number[]
}

/** A kept file on disk. */
export interface KeptFile {
  name: string
  base: number
}

/** `kept-000000000001.jsonl` for base 1. */
export function keptFileName(base: number): string {
  return `kept-${String(base).padStart(12, '0')}.jsonl`
}

/** The kept files in `dir`, lowest base first. */
export async function listKept(dir: string): Promise<KeptFile[]> {
  const out: KeptFile[] = []
  for (const name of await readdir(dir)) {
    const m = KEPT.exec(name)
    if (m) out.push({ name, base: Number(m[1]) })
  }
  return out.sort((a, b) => a.base - b.base)
}

/**
 * Reads the header of a kept file.
 * @throws Error naming the file when line 1 is not a {@link KeptHeader}.
 */
export async function readKeptHeader(path: string): Promise<KeptHeader> {
  for await (const lines of readLineBatches(path)) {
    const first = lines[0]
    if (!first) break
    let h: Partial<KeptHeader>
    try {
      h = JSON.parse(first.text) as Partial<KeptHeader>
    } catch {
      break
    }
    if (h.schema === KEPT_SCHEMA && Number.isSafeInteger(h.base) && Number.isSafeInteger(h.lines) && typeof h.received_until === 'string' && Array.isArray(h.seqs)) return h as KeptHeader
    break
  }
  throw new Error(`${path}: not a kept audit file (line 1 is not a ${KEPT_SCHEMA} header)`)
}

/** The signals of a kept file with their sequence numbers, in batches (header skipped). */
export async function* replayKept(path: string, header: KeptHeader): AsyncGenerator<Array<{ seq: number; signal: Signal }>> {
  let i = -1
  for await (const lines of readLineBatches(path)) {
    const out: Array<{ seq: number; signal: Signal }> = []
    for (const line of lines) {
      if (i++ < 0) continue
      const signal = parseAuditLine(line.text)
      const seq = header.seqs[i - 1]
      if (signal && seq !== undefined) out.push({ seq, signal })
    }
    if (out.length) yield out
  }
}

/** What a compaction did. */
export interface Compaction {
  /** Signal lines kept (violations). */
  kept: number
  /** Lines rotated out (observations and unreadable lines). */
  dropped: number
  /** Bytes of the rotated file before. */
  bytesBefore: number
  /** Bytes of the kept file written (0 when none was). */
  bytesAfter: number
  /** The kept file written (new or merged into), if any. */
  keptFile?: string
}

/**
 * Compacts the rotated file `name` (first sequence number `base`) in `dir`: keeps the lines
 * `retain` accepts, deletes the rotated file. The kept lines go into the newest kept file when
 * it ends right where this file starts and the result stays within `mergeBytes` (so a long
 * history is a few large kept files, not one per rotation); else into a new kept file; nothing
 * kept and nothing to extend → no kept file. A rotated file already inside a kept file's span (a
 * crash after the merge, before the deletion) is just deleted.
 * @throws the fs error when writing or renaming fails (the rotated file is then left as it was).
 */
export async function compactRotated(dir: string, name: string, base: number, retain: (s: Signal) => boolean, mergeBytes = 0): Promise<Compaction> {
  const path = join(dir, name)
  const st = await stat(path)
  const seqs: number[] = []
  const kept: string[] = []
  let index = 0
  for await (const lines of readLineBatches(path)) {
    for (const line of lines) {
      const seq = base + index++
      const s = parseAuditLine(line.text)
      if (s && retain(s)) {
        seqs.push(seq)
        kept.push(line.text)
      }
    }
  }
  const receivedUntil = new Date(st.mtimeMs).toISOString()
  let target: { base: number; header: KeptHeader; lines: string[] } | undefined
  const prev = (await listKept(dir)).filter((k) => k.base < base).at(-1)
  if (prev) {
    const prevPath = join(dir, prev.name)
    const h = await readKeptHeader(prevPath)
    if (h.base + h.lines >= base + index) {
      await removeFile(path) // merged before a crash: the kept file has it already
      await fsyncDir(dir)
      return { kept: 0, dropped: 0, bytesBefore: st.size, bytesAfter: 0 }
    }
    const prevBytes = (await stat(prevPath)).size
    const addBytes = kept.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0) + 16 * seqs.length
    // A kept file spans at most MERGE_SPAN_MS of receipt times, so merging delays its expiry by at most that.
    const from = Date.parse(h.received_from ?? h.received_until)
    if (h.base + h.lines === base && prevBytes + addBytes <= mergeBytes && st.mtimeMs - from <= MERGE_SPAN_MS) {
      const old: string[] = []
      for await (const batch of readLineBatches(prevPath)) for (const l of batch) old.push(l.text)
      old.shift() // the header
      target = {
        base: h.base,
        header: { ...h, lines: h.lines + index, received_from: h.received_from ?? h.received_until, received_until: receivedUntil > h.received_until ? receivedUntil : h.received_until, seqs: [...h.seqs, ...seqs] },
        lines: [...old, ...kept],
      }
    }
  }
  if (!target && kept.length > 0) target = { base, header: { schema: KEPT_SCHEMA, base, lines: index, received_until: receivedUntil, seqs }, lines: kept }
  let bytesAfter = 0
  let keptFile: string | undefined
  if (target) {
    const body = JSON.stringify(target.header) + '\n' + target.lines.map((l) => l + '\n').join('')
    const file = join(dir, keptFileName(target.base))
    await writeFileAtomic(file, body)
    bytesAfter = Buffer.byteLength(body)
    keptFile = keptFileName(target.base)
  }
  await removeFile(path)
  await fsyncDir(dir)
  return { kept: kept.length, dropped: index - kept.length, bytesBefore: st.size, bytesAfter, ...(keptFile && { keptFile }) }
}

/** What a retention sweep deleted. */
export interface Sweep {
  files: number
  signals: number
  bytes: number
}

/** What the sweep needs of a kept file's header: `received_until` in ms and the kept line count. */
export interface KeptMeta {
  receivedUntilMs: number
  kept: number
}

/**
 * Deletes the kept files whose `received_until` is more than `retentionMs` before `nowMs`.
 * `cache` (file name → {@link KeptMeta}) spares re-reading headers on every sweep; it is filled
 * and pruned here. Unreadable kept files are left alone (reported by `onError`).
 */
export async function sweepKept(dir: string, retentionMs: number, nowMs: number, onError: (file: string, err: unknown) => void, cache: Map<string, KeptMeta> = new Map()): Promise<Sweep> {
  const out: Sweep = { files: 0, signals: 0, bytes: 0 }
  const present = new Set<string>()
  for (const f of await listKept(dir)) {
    present.add(f.name)
    const path = join(dir, f.name)
    try {
      let meta = cache.get(f.name)
      if (!meta) {
        const h = await readKeptHeader(path)
        meta = { receivedUntilMs: Date.parse(h.received_until), kept: h.seqs.length }
        cache.set(f.name, meta)
      }
      if (!(meta.receivedUntilMs + retentionMs < nowMs)) continue
      const size = (await stat(path)).size
      await removeFile(path)
      cache.delete(f.name)
      out.files++
      out.signals += meta.kept
      out.bytes += size
    } catch (err) {
      onError(path, err)
    }
  }
  for (const name of cache.keys()) if (!present.has(name)) cache.delete(name)
  if (out.files) await fsyncDir(dir)
  return out
}
