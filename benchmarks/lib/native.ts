/**
 * Builds the C helpers (load generator, upstream) with the system C compiler into the
 * run's temp folder. They are C so that client and upstream cost the same, and as little
 * as possible, on every path measured.
 */
import { execFileSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { findExecutable } from './procs.js'

const here = path.dirname(fileURLToPath(import.meta.url))

export interface NativeTools {
  loadgen: string
  upstream: string
}

export function buildNative(outDir: string): NativeTools {
  const cc = findExecutable('cc') ?? findExecutable('gcc') ?? findExecutable('clang')
  if (!cc) throw new Error('benchmarks need a C compiler for the load generator: apt-get install gcc')
  const out: Record<string, string> = {}
  for (const name of ['loadgen', 'upstream']) {
    const src = path.join(here, 'native', `${name}.c`)
    const bin = path.join(outDir, name)
    try {
      execFileSync(cc, ['-O2', '-Wall', '-o', bin, src], { stdio: ['ignore', 'pipe', 'pipe'] })
    } catch (e) {
      const err = e as { stderr?: Buffer }
      throw new Error(`compiling ${src} failed:\n${err.stderr?.toString() ?? String(e)}`)
    }
    out[name] = bin
  }
  return { loadgen: out.loadgen!, upstream: out.upstream! }
}
