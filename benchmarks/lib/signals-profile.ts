/**
 * Summarises a V8 .cpuprofile of the bundled aggregator with source-mapped locations: the bundle
 * (dist/mcp-hangar.mjs) is minified into a few long lines, so its own line numbers say nothing;
 * `dist/mcp-hangar.mjs.map` (scripts/bundle.mjs, chained through tsc's maps) gives the .ts file
 * and line, or the node_modules file. Uses node:module's SourceMap, no dependency.
 */
import fs from 'node:fs'
import { SourceMap } from 'node:module'
import path from 'node:path'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number }
  children?: number[]
}

interface Profile {
  nodes: ProfileNode[]
  samples?: number[]
  timeDeltas?: number[]
}

/** One row: a function at a source location, and its share of the sampled CPU (0–1). */
export interface ProfileRow {
  where: string
  share: number
}

export interface ProfileSummary {
  /** Sampled CPU seconds, idle excluded. */
  cpuS: number
  /** Share of the garbage collector. */
  gc: number
  self: ProfileRow[]
  /** Inclusive time of functions in the project's own sources (not node_modules, not node:). */
  ownInclusive: ProfileRow[]
  /** Inclusive time per dependency package (node_modules/<pkg>). */
  packages: ProfileRow[]
}

function loadMap(bundle: string): SourceMap | undefined {
  try {
    return new SourceMap(JSON.parse(fs.readFileSync(`${bundle}.map`, 'utf8')) as ConstructorParameters<typeof SourceMap>[0])
  } catch {
    return undefined
  }
}

/** `aggregator/store/audit-lines.ts:9` or `node_modules/zod/v3/types.js:1934`, from a map source path. */
function shortSource(src: string): string {
  const s = src.replace(/^file:\/\//, '')
  const nm = s.lastIndexOf('node_modules/')
  if (nm >= 0) return s.slice(nm)
  return s.replace(/^(\.\.\/)+/, '')
}

/**
 * Reads `file` (a .cpuprofile written by `node --cpu-prof` running `bundle`) and ranks where the
 * CPU went. @throws Error when the profile cannot be read.
 */
export function summarizeMapped(file: string, bundle: string, top = 15): ProfileSummary {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile
  const map = loadMap(bundle)
  const bundleName = path.basename(bundle)
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const where = new Map<number, { key: string; own: boolean; pkg?: string }>()
  const locate = (id: number) => {
    let w = where.get(id)
    if (w) return w
    const cf = byId.get(id)!.callFrame
    const fn = cf.functionName || '(anonymous)'
    if (cf.url.endsWith(bundleName) && map) {
      const e = map.findEntry(cf.lineNumber, cf.columnNumber) as { originalSource?: string; originalLine?: number }
      const src = e.originalSource ? shortSource(e.originalSource) : undefined
      const pkg = src?.startsWith('node_modules/') ? src.split('/').slice(1, src.split('/')[1]!.startsWith('@') ? 3 : 2).join('/') : undefined
      w = src ? { key: `${fn} ${src}:${(e.originalLine ?? 0) + 1}`, own: !pkg, pkg } : { key: `${fn} (bundle)`, own: false }
    } else {
      w = { key: `${fn} ${cf.url ? cf.url.replace(/^.*\//, '') : '(native)'}`, own: false }
    }
    where.set(id, w)
    return w
  }
  const selfUs = new Map<number, number>()
  const samples = p.samples ?? []
  const deltas = p.timeDeltas ?? []
  for (let i = 0; i < samples.length; i++) selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + Math.max(0, deltas[i + 1] ?? 0))
  let total = 0
  let gc = 0
  const self = new Map<string, number>()
  const own = new Map<string, number>()
  const pkgs = new Map<string, number>()
  for (const [id, us] of selfUs) {
    const name = byId.get(id)?.callFrame.functionName
    if (name === '(idle)') continue
    total += us
    if (name === '(garbage collector)') gc += us
    const w = locate(id)
    self.set(w.key, (self.get(w.key) ?? 0) + us)
    const seen = new Set<string>()
    for (let c: number | undefined = id; c !== undefined; c = parent.get(c)) {
      const cw = locate(c)
      const key = cw.own ? cw.key : cw.pkg ? `node_modules/${cw.pkg}` : undefined
      if (key === undefined || seen.has(key)) continue
      seen.add(key)
      const m = cw.own ? own : pkgs
      m.set(key, (m.get(key) ?? 0) + us)
    }
  }
  const rows = (m: Map<string, number>): ProfileRow[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => ({ where: k, share: total ? us / total : 0 }))
      .filter((r) => r.share >= 0.001)
  return { cpuS: total / 1e6, gc: total ? gc / total : 0, self: rows(self), ownInclusive: rows(own), packages: rows(pkgs) }
}

/** The summary as plain text (for the console and the markdown page). */
export function profileText(s: ProfileSummary): string {
  const pct = (x: number) => `${(x * 100).toFixed(1).padStart(5)} %`
  return [
    `${s.cpuS.toFixed(2)} s of CPU sampled (idle excluded); garbage collector ${pct(s.gc).trim()}`,
    'self time:',
    ...s.self.map((r) => `  ${pct(r.share)}  ${r.where}`),
    'inclusive time, the project\'s own functions:',
    ...s.ownInclusive.map((r) => `  ${pct(r.share)}  ${r.where}`),
    'inclusive time, per dependency:',
    ...s.packages.map((r) => `  ${pct(r.share)}  ${r.where}`),
  ].join('\n')
}
