/**
 * Summarises a V8 .cpuprofile (node --cpu-prof): self time by function and by file, so a
 * benchmark run can say where the sidecar spends its CPU.
 */
import fs from 'node:fs'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  hitCount?: number
  children?: number[]
}

interface Profile {
  nodes: ProfileNode[]
  samples?: number[]
  timeDeltas?: number[]
}

function shortUrl(url: string): string {
  if (!url) return '(native)'
  const u = url.replace(/^file:\/\//, '')
  const i = u.indexOf('/node_modules/')
  if (i >= 0) return u.slice(i + 1)
  const d = u.indexOf('/dist/')
  if (d >= 0) return u.slice(d + 1)
  return u.startsWith('node:') ? u : u.split('/').slice(-2).join('/')
}

export function summarizeProfile(file: string, top = 25): string {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  const selfUs = new Map<number, number>()
  const samples = p.samples ?? []
  const deltas = p.timeDeltas ?? []
  for (let i = 0; i < samples.length; i++) {
    const id = samples[i]!
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, deltas[i + 1] ?? deltas[i] ?? 0))
  }
  let total = 0
  const byFn = new Map<string, number>()
  const byFile = new Map<string, number>()
  for (const [id, us] of selfUs) {
    const n = byId.get(id)
    if (!n || n.callFrame.functionName === '(idle)') continue
    total += us
    const cf = n.callFrame
    const file = shortUrl(cf.url)
    const fn = `${cf.functionName || '(anonymous)'} ${file}${cf.url ? `:${cf.lineNumber + 1}` : ''}`
    byFn.set(fn, (byFn.get(fn) ?? 0) + us)
    byFile.set(file, (byFile.get(file) ?? 0) + us)
  }
  // inclusive time of the project's own functions (dist/): each sample counts once per function on its stack
  const parent = new Map<number, number>()
  for (const n of p.nodes) for (const ch of n.children ?? []) parent.set(ch, n.id)
  const incl = new Map<string, number>()
  for (const [id, us] of selfUs) {
    if (byId.get(id)?.callFrame.functionName === '(idle)') continue
    const seen = new Set<string>()
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const cf = byId.get(cur)?.callFrame
      if (!cf || !cf.url.includes('/dist/')) continue
      const key = `${cf.functionName || '(anonymous)'} ${shortUrl(cf.url)}:${cf.lineNumber + 1}`
      if (seen.has(key)) continue
      seen.add(key)
      incl.set(key, (incl.get(key) ?? 0) + us)
    }
  }
  const rows = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => `  ${((us / total) * 100).toFixed(1).padStart(5)} %  ${k}`)
  return [
    `profile ${file}: ${(total / 1e6).toFixed(2)} s of CPU sampled (idle excluded)`,
    'self time by function:',
    ...rows(byFn),
    'self time by file:',
    ...rows(byFile),
    "inclusive time of the project's own functions:",
    ...rows(incl),
  ].join('\n')
}
