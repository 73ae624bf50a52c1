/**
 * Deterministic DNS-tunnel payload labels for the egress tests (not a test file): letters-only
 * encodings (hex mapped to a–p, base26), lowercase base32, and word-like labels as controls.
 */
import { createHash } from 'node:crypto'

/** Deterministic bytes from a seed (sha256 chain). */
export function bytes(seed: string, n: number): Buffer {
  const out: Buffer[] = []
  let h = Buffer.from(seed)
  for (let len = 0; len < n; len += 32) out.push((h = createHash('sha256').update(h).digest()))
  return Buffer.concat(out).subarray(0, n)
}
/** Hex with the digits mapped to letters: 0→a … f→p (a letters-only encoding). */
export const hexLetters = (seed: string, n: number) => [...bytes(seed, n).toString('hex').slice(0, n)].map((c) => String.fromCharCode(97 + parseInt(c, 16))).join('')
/** RFC 4648 base32, lowercase, without padding. */
export function base32Lower(seed: string, n: number): string {
  const A = 'abcdefghijklmnopqrstuvwxyz234567'
  const b = bytes(seed, n)
  let bits = 0
  let v = 0
  let s = ''
  for (const x of b) {
    v = (v << 8) | x
    bits += 8
    while (bits >= 5 && s.length < n) {
      s += A[(v >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  return s
}
/** Letters a–z only (base26). */
export const base26 = (seed: string, n: number) => [...bytes(seed, n)].map((x) => String.fromCharCode(97 + (x % 26))).join('')

/** Compound, word-like labels of the kind real hosts under a wildcard have. */
export const WORDS = ['production', 'backups', 'europe', 'west', 'static', 'assets', 'images', 'storage', 'analytics', 'dashboard', 'customer', 'portal', 'payments', 'gateway', 'release', 'artifacts', 'mirror', 'download', 'service', 'account', 'internal', 'staging', 'metrics', 'telemetry', 'notifications']
export const wordLabel = (i: number, n: number) => Array.from({ length: n }, (_, k) => WORDS[(i * 7 + k * 3) % WORDS.length]).join('')
