/**
 * pino logging. `MCP_LOG_LEVEL` sets the level; `MCP_JSON_LOGS` selects JSON lines (for
 * collectors) over a compact human line. Logs go to stderr so stdout stays free for
 * command output and the JSON-lines signal sink.
 */
import { pino, destination, stdTimeFunctions, type Logger } from 'pino'

export type { Logger }

/** Creates the process logger. `name` is the component (`egress`, `sidecar`, …). */
export function createLogger(opts: { level: string; json: boolean; name?: string }): Logger {
  const base = { name: opts.name ?? 'mcp-hangar' }
  if (opts.json) {
    return pino({ level: opts.level, base, timestamp: stdTimeFunctions.isoTime }, destination(2))
  }
  // Human format without pino-pretty: one line, level + name + msg + the object fields.
  return pino(
    {
      level: opts.level,
      base,
      timestamp: false,
      formatters: { level: (label) => ({ level: label }) },
    },
    {
      write(line: string) {
        try {
          const o = JSON.parse(line) as Record<string, unknown>
          const { level, name, msg, ...rest } = o
          const extra = Object.keys(rest).length ? ' ' + JSON.stringify(rest) : ''
          process.stderr.write(`${new Date().toISOString()} ${String(level).toUpperCase().padEnd(5)} [${name}] ${msg ?? ''}${extra}\n`)
        } catch {
          process.stderr.write(line)
        }
      },
    },
  )
}

/** A logger that discards everything (tests, benchmarks). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' })
}
