/**
 * Reads what a server under test made durable, to check a run lost and doubled nothing: the
 * aggregator's audit log (`<data_dir>/audit/audit-<seq>.jsonl` rotated files, oldest first, then
 * `audit.jsonl`; aggregator/store/audit-files.ts) or the floor's one JSON-lines file.
 * Every line is parsed (JSON.parse): a benchmark's check should not trust the format it checks.
 */
import fs from 'node:fs'
import path from 'node:path'
import readline from 'node:readline'

/** The audit files of an aggregator data dir, in log order. */
export function auditFiles(dataDir: string): string[] {
  const dir = path.join(dataDir, 'audit')
  const names = fs.existsSync(dir) ? fs.readdirSync(dir) : []
  const rotated = names.filter((n) => /^audit-\d+\.jsonl$/.test(n)).sort()
  return [...rotated, ...(names.includes('audit.jsonl') ? ['audit.jsonl'] : [])].map((n) => path.join(dir, n))
}

interface LineSignal {
  id?: unknown
  destination?: { host?: unknown }
}

/** Calls `fn` with every parsed line of `files`, in order; counts lines that are not JSON objects. */
async function eachLine(files: string[], fn: (s: LineSignal) => void): Promise<{ lines: number; corrupt: number }> {
  let lines = 0
  let corrupt = 0
  for (const f of files) {
    const rl = readline.createInterface({ input: fs.createReadStream(f), crlfDelay: Infinity })
    for await (const line of rl) {
      if (!line) continue
      lines++
      let s: unknown
      try {
        s = JSON.parse(line)
      } catch {
        corrupt++
        continue
      }
      if (typeof s !== 'object' || s === null) corrupt++
      else fn(s as LineSignal)
    }
  }
  return { lines, corrupt }
}

/** Lines, distinct ids and unparsable lines in `files`. */
export async function countIds(files: string[]): Promise<{ lines: number; uniqueIds: number; corrupt: number }> {
  const ids = new Set<string>()
  const r = await eachLine(files, (s) => {
    if (typeof s.id === 'string') ids.add(s.id)
  })
  return { ...r, uniqueIds: ids.size }
}

/**
 * How often each `destination.host` ending in `suffix` occurs in `files`.
 * @returns host → number of lines.
 */
export async function hostCounts(files: string[], suffix: string): Promise<Map<string, number>> {
  const out = new Map<string, number>()
  await eachLine(files, (s) => {
    const h = s.destination?.host
    if (typeof h === 'string' && h.endsWith(suffix)) out.set(h, (out.get(h) ?? 0) + 1)
  })
  return out
}
