/**
 * `mcp-hangar status [-c hangar.yaml]`: providers, their states and recent violations, read from
 * the aggregator's REST API (`GET /v1/providers`, `GET /v1/signals?kind=violation`) with the
 * first `aggregator.admin_tokens` entry. Exit code 0; 1 when the aggregator cannot be reached or
 * refuses.
 */
import { request } from 'undici'
import { loadConfig } from '../config/load.js'
import { rawEnv } from '../core/env.js'
import { aggregatorUrlOf } from '../local/effective-config.js'
import type { ProviderView } from '../aggregator/service.js'
import type { Signal } from '../signals/types.js'

export interface StatusCommand {
  configPath: string
  violations: number
  out?: NodeJS.WritableStream
  err?: NodeJS.WritableStream
}

/** Pure: the text `status` prints. */
export function formatStatus(url: string, providers: ProviderView[], violations: Signal[]): string {
  const lines = [`aggregator ${url}`, '']
  const w = Math.max(8, ...providers.map((p) => p.name.length))
  lines.push(`${'PROVIDER'.padEnd(w)}  ${'STATE'.padEnd(12)}  ${'ISOLATION'.padEnd(11)}  VIOLATIONS  LAST HEARTBEAT`)
  for (const p of providers) {
    lines.push(`${p.name.padEnd(w)}  ${p.state.padEnd(12)}  ${(p.isolation ?? '-').padEnd(11)}  ${String(p.violations_total).padStart(10)}  ${p.last_heartbeat ?? 'never'}${p.quarantined ? `  QUARANTINED${p.quarantine_reason ? `: ${p.quarantine_reason}` : ''}` : ''}`)
  }
  lines.push('', violations.length ? `recent violations (${violations.length}):` : 'no violations in the last hour')
  for (const s of violations) {
    const where = s.tool ?? (s.destination ? `${s.destination.host ?? s.destination.ip ?? ''}${s.destination.port ? `:${s.destination.port}` : ''}` : '')
    lines.push(`  ${s.time}  ${s.provider}  ${s.type}  ${s.action}  ${where}  ${s.reason}`)
  }
  return `${lines.join('\n')}\n`
}

export async function runStatus(cmd: StatusCommand): Promise<number> {
  const out = cmd.out ?? process.stdout
  const err = cmd.err ?? process.stderr
  const { config } = loadConfig(cmd.configPath, rawEnv())
  const url = aggregatorUrlOf(config)
  const token = config.aggregator?.admin_tokens[0]
  const headers = token ? { authorization: `Bearer ${token}` } : {}
  const get = async (path: string): Promise<unknown> => {
    const res = await request(new URL(path, url), { headers, headersTimeout: 5000, bodyTimeout: 5000 })
    const text = await res.body.text()
    if (res.statusCode !== 200) throw new Error(`GET ${path}: HTTP ${res.statusCode} ${text.slice(0, 200)}`)
    return JSON.parse(text)
  }
  try {
    const { providers } = (await get('/v1/providers')) as { providers: ProviderView[] }
    const since = new Date(Date.now() - 3600_000).toISOString()
    const { signals } = (await get(`/v1/signals?kind=violation&since=${encodeURIComponent(since)}&limit=1000`)) as { signals: Signal[] }
    out.write(formatStatus(url, providers, signals.slice(0, Math.max(0, cmd.violations))))
    return 0
  } catch (e) {
    err.write(`mcp-hangar status: cannot read the aggregator at ${url}: ${(e as Error).message}\n`)
    return 1
  }
}
