// Shared helpers of the signals tests: signals with known ids, temp dirs, a log capture.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino, type Logger } from 'pino'
import { buildSignal } from '../../signals/build.js'
import type { Signal } from '../../signals/types.js'

/** A UUIDv7-shaped id that encodes `i` (sortable, recognisable in failures). */
export function idOf(i: number): string {
  return `01900000-0000-7000-8000-${i.toString(16).padStart(12, '0')}`
}

/** The index encoded by {@link idOf}. */
export function indexOf(id: string): number {
  return parseInt(id.slice(24), 16)
}

/** A valid signal number `i` (id from {@link idOf}, time 2025-01-01 + i ms); `pad` adds bytes to `details`. */
export function signal(i: number, pad = 0): Signal {
  const s = buildSignal({ provider: 'fetch', sidecar_id: 'sc-test' }, {
    kind: 'violation', type: 'egress_denied', action: 'blocked', enforcement_mode: 'block',
    destination: { host: 'evil.example', port: 443, protocol: 'https' }, rule: 'default-deny', reason: `attempt ${i}`,
    details: { n: i, ...(pad > 0 && { pad: 'x'.repeat(pad) }) },
  }, new Date(Date.UTC(2025, 0, 1) + i))
  return { ...s, id: idOf(i) }
}

/** A fresh temp dir removed after the test. */
export function tempDir(t: { teardown(fn: () => unknown): void }, prefix = 'hangar-signals-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A pino logger whose JSON records are kept in `lines`. */
export function captureLogger(level = 'debug'): { log: Logger; lines: Array<Record<string, unknown>>; has(re: RegExp): boolean } {
  const lines: Array<Record<string, unknown>> = []
  const log = pino({ level }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) })
  return { log, lines, has: (re) => lines.some((l) => re.test(String(l.msg))) }
}

/** The ids {@link idOf}(from) … idOf(to − 1), in order. */
export function range(from: number, to: number): string[] {
  return Array.from({ length: to - from }, (_, i) => idOf(from + i))
}

/** The ids of a batch's signals, in order. */
export function ids(b: { signals: Array<{ id: string }> }): string[] {
  return b.signals.map((s) => s.id)
}
