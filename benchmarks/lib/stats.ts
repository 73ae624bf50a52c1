/** Small statistics helpers: every reported figure carries its samples and spread. */

export interface Summary {
  n: number
  median: number
  min: number
  max: number
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.round(p * (sorted.length - 1))))
  return sorted[i]!
}

export function summarize(values: readonly number[]): Summary {
  const s = [...values].sort((a, b) => a - b)
  if (s.length === 0) return { n: 0, median: NaN, min: NaN, max: NaN }
  const mid = Math.floor(s.length / 2)
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
  return { n: s.length, median, min: s[0]!, max: s[s.length - 1]! }
}

/** Formats a number with `digits` significant-looking decimals chosen by magnitude. */
export function fmt(v: number, digits?: number): string {
  if (!Number.isFinite(v)) return 'n/a'
  const d = digits ?? (Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : Math.abs(v) >= 1 ? 2 : 3)
  return v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d })
}

/** "median (min–max, n=N)". */
export function fmtSummary(s: Summary, digits?: number): string {
  if (s.n === 0) return 'n/a'
  if (s.n === 1) return `${fmt(s.median, digits)} (n=1)`
  return `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)}, n=${s.n})`
}
