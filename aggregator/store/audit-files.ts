/**
 * The audit log's files in `<data_dir>/audit/`:
 * - `audit.jsonl`: the current file, appended to (what a SIEM shipper tails).
 * - `audit-<first seq, 12 digits>.jsonl`: rotated files, named by the sequence number of their
 *   first line, so their order and every line's sequence number follow from the name.
 * - `state.json`: `{"current_base": N}`, the sequence number of `audit.jsonl`'s first line,
 *   rewritten (atomically) at each rotation so it survives the deletion of every rotated file.
 * - `audit.jsonl.torn-<offset>`: bytes cut from a torn tail, kept for forensics (never read back).
 * Naming and listing only; the appends are in audit-log.ts.
 */
import { open, readdir, readFile, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from '../../core/atomic-write.js'

export const CURRENT_FILE = 'audit.jsonl'
export const STATE_FILE = 'state.json'
const ROTATED = /^audit-(\d{1,15})\.jsonl$/

/** A rotated file: its name and the sequence number of its first line. */
export interface RotatedFile {
  name: string
  base: number
}

/** `audit-000000000001.jsonl` for base 1. */
export function rotatedFileName(base: number): string {
  return `audit-${String(base).padStart(12, '0')}.jsonl`
}

/** The base of a rotated file's name, or null when the name is not one. */
export function parseRotatedFileName(name: string): number | null {
  const m = ROTATED.exec(name)
  return m ? Number(m[1]) : null
}

/** The rotated files in `dir`, oldest (lowest base) first. */
export async function listRotated(dir: string): Promise<RotatedFile[]> {
  const out: RotatedFile[] = []
  for (const name of await readdir(dir)) {
    const base = parseRotatedFileName(name)
    if (base !== null) out.push({ name, base })
  }
  return out.sort((a, b) => a.base - b.base)
}

/** `current_base` from state.json, or null when the file is missing or unreadable. */
export async function readState(dir: string): Promise<number | null> {
  try {
    const o = JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8')) as { current_base?: unknown }
    return typeof o.current_base === 'number' && Number.isSafeInteger(o.current_base) && o.current_base >= 1 ? o.current_base : null
  } catch {
    return null
  }
}

/** Writes state.json atomically and durably (the directory is fsynced too: core/atomic-write.ts). */
export async function writeState(dir: string, currentBase: number): Promise<void> {
  await writeFileAtomic(join(dir, STATE_FILE), JSON.stringify({ current_base: currentBase }) + '\n')
}

/**
 * Writes `bytes` to a new file `<path>.torn-<offset>` (or `….torn-<offset>.<n>` when that exists),
 * fsynced. Returns the name written.
 */
export async function saveTornBytes(path: string, offset: number, bytes: Buffer): Promise<string> {
  for (let n = 0; ; n++) {
    const name = `${path}.torn-${offset}${n ? `.${n}` : ''}`
    let fh
    try {
      fh = await open(name, 'wx')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && n < 1000) continue
      throw err
    }
    try {
      await fh.writeFile(bytes)
      await fh.sync()
    } finally {
      await fh.close()
    }
    return name
  }
}

/** Deletes a file; a file already gone is not an error. */
export async function removeFile(path: string): Promise<void> {
  try {
    await unlink(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
}
