/**
 * The report of a run: the targets table every report carries, and the writer — the markdown
 * page (docs/benchmarks/<suite>.md) and the raw results as JSON (benchmarks/results/).
 */
import fs from 'node:fs'
import path from 'node:path'
import { log as benchLog, ROOT } from './run.js'

/** One target of a suite, judged on a run. */
export interface Verdict {
  target: string
  measured: string
  required: string
  /** undefined: not measured in this run. */
  pass: boolean | undefined
}

/** The result cell of a verdict: `**pass**`, `**FAIL**`, or `unjudged` (default `not measured`). */
export function mark(pass: boolean | undefined, unjudged = 'not measured'): string {
  return pass === undefined ? unjudged : pass ? '**pass**' : '**FAIL**'
}

/** The markdown table of `verdicts`: header, separator, one row per target. */
export function targetsTable(verdicts: readonly Verdict[]): string[] {
  return [
    '| target | measured | required | result |',
    '|---|---|---|---|',
    ...verdicts.map((x) => `| ${x.target} | ${x.measured} | ${x.required} | ${mark(x.pass)} |`),
  ]
}

/** `benchmarks/results/<name>.json`, or `<name>-<YYYY-MM-DD>.json` when `date` (ISO 8601) is given. */
export function resultsPath(name: string, date?: string): string {
  return path.join(ROOT, 'benchmarks', 'results', date === undefined ? `${name}.json` : `${name}-${date.slice(0, 10)}.json`)
}

/** What a run writes. */
export interface ReportFiles {
  /** The report page. */
  markdown: string
  /** Where the page goes; undefined (`--no-write`): nowhere. */
  out: string | undefined
  /** The raw results, written as indented JSON beside the page (not without `out`). */
  json?: { path: string; data: unknown }
  /** Also print the page on stdout, framed by blank lines. */
  print?: boolean
  /** Appended to the "wrote …" log line, e.g. ` (so far)`. */
  note?: string
}

/**
 * Prints and writes a run's report: the page to `out` and the JSON to `json.path`, creating
 * their folders, then logs what it wrote (paths relative to the repository root).
 * @returns the files written, in order.
 * @throws the file system's error when a file cannot be written.
 */
export function writeReport(r: ReportFiles, log: (msg: string) => void = benchLog): string[] {
  if (r.print) process.stdout.write(`\n${r.markdown}\n`)
  if (r.out === undefined) return []
  const written: string[] = []
  fs.mkdirSync(path.dirname(r.out), { recursive: true })
  fs.writeFileSync(r.out, r.markdown)
  written.push(r.out)
  if (r.json) {
    fs.mkdirSync(path.dirname(r.json.path), { recursive: true })
    fs.writeFileSync(r.json.path, `${JSON.stringify(r.json.data, null, 2)}\n`)
    written.push(r.json.path)
  }
  log(`wrote ${written.map((f) => path.relative(ROOT, f)).join(' and ')}${r.note ?? ''}`)
  return written
}
