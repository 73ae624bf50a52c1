/**
 * `mcp-hangar export test --sink NAME -c hangar.yaml`: sends one sample signal through an export
 * sink (`aggregator.export.sinks.<name>`), through the same compliance port the aggregator uses,
 * so the operator sees whether the receiver takes it (format, transport, TLS, token) without
 * waiting for a real violation. The sample is a `sidecar_started` lifecycle signal of the
 * pseudo-provider `mcp-hangar-export-test`; it is not written to the audit log and moves no
 * cursor. Prints `sent <id> to <sink>` and exits 0, or prints why not and exits 1 (the receiver
 * refused it, or it failed) or 2 (no such sink, no license for the enterprise export).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Registry } from 'prom-client'
import { loadConfig } from '../config/load.js'
import { rawEnv } from '../core/env.js'
import type { Logger } from '../core/log.js'
import { ports as processPorts, type PortRegistry } from '../core/ports.js'
import { loadEnterprise } from './enterprise.js'

export interface ExportTestCommand {
  configPath: string
  sink: string
  log: Logger
  /** Output lines (default: stdout). */
  out?: (line: string) => void
  /** The enterprise ports (default: the process registry the enterprise loader filled). */
  ports?: PortRegistry
}

/** Runs `export test`. @returns the exit code (0 sent, 1 refused or failed, 2 unusable). */
export async function runExportTest(cmd: ExportTestCommand): Promise<number> {
  const out = cmd.out ?? ((l: string) => void process.stdout.write(l + '\n'))
  const p = cmd.ports ?? processPorts
  const { config } = loadConfig(cmd.configPath, rawEnv())
  const sinks = config.aggregator?.export?.sinks ?? {}
  if (!(cmd.sink in sinks)) {
    out(`error: no export sink "${cmd.sink}" in ${cmd.configPath} (aggregator.export.sinks: ${Object.keys(sinks).join(', ') || 'none'})`)
    return 2
  }
  // The process registry is filled by the enterprise loader, as at `aggregator` start.
  if (cmd.ports === undefined) await loadEnterprise({ providers: Object.keys(config.providers).length, log: cmd.log })
  if (!p.enterprise) {
    out(`error: SIEM export is an enterprise feature and needs a license (${p.license.reason ?? `license mode ${p.license.mode}`})`)
    return 2
  }
  // The sinks start without an audit feed (nothing is followed, no cursor is written) in a
  // scratch data dir, so a running aggregator's cursors are untouched.
  const scratch = mkdtempSync(join(tmpdir(), 'hangar-export-test-'))
  try {
    await p.compliance.start({ dataDir: scratch, config: { sinks: { [cmd.sink]: sinks[cmd.sink] } }, log: cmd.log, registry: new Registry(), subscribe: () => () => {}, lastSeq: () => 0 })
    try {
      const r = await p.compliance.sendSample(cmd.sink)
      out(`sent ${r.id} to ${r.sink}`)
      return 0
    } finally {
      await p.compliance.stop()
    }
  } catch (err) {
    out(`error: ${(err as Error).message}`)
    return 1
  } finally {
    rmSync(scratch, { recursive: true, force: true })
  }
}
