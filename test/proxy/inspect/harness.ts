// Shared fixtures of the inspection tests: a log that records, an Inspector on a temp data dir
// with a memory sink, fresh metrics and a fake clock, and JSON-RPC message builders.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino, type Logger } from 'pino'
import { createMetrics, type HangarMetrics } from '../../../core/metrics.js'
import { QuarantineSwitch } from '../../../policy/quarantine.js'
import { Inspector, type ClientVerdict, type InspectorOptions } from '../../../proxy/inspect/inspector.js'
import type { CallContext, JsonRpcMessage, JsonRpcRequest, JsonRpcResultResponse } from '../../../proxy/types.js'
import { capabilitiesSchema } from '../../../policy/capabilities.js'
import { MemorySink } from '../../../signals/sink.js'

/** A pino logger whose lines are kept as objects. */
export function recordingLogger(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) })
  return { log, lines }
}

/**
 * A temporary directory removed at teardown, after `beforeRemove` (e.g. the last write of a pin
 * store into it: a write after the removal would make the directory again and leave it behind).
 */
export function tempDir(t: { teardown(fn: () => void): void }, beforeRemove?: () => Promise<unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-inspect-'))
  t.teardown(async () => {
    await beforeRemove?.().catch(() => undefined)
    rmSync(dir, { recursive: true, force: true })
  })
  return dir
}

export const CTX: CallContext = { sessionId: 'sess-1', caller: 'alice', traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331' }

export const TOOLS = {
  fetch_html: {
    name: 'fetch_html',
    description: 'Fetch a URL and return its HTML.',
    inputSchema: { type: 'object', properties: { url: { type: 'string' }, headers: { type: 'object' } }, required: ['url'], additionalProperties: false },
    annotations: { readOnlyHint: true },
  },
  fetch_markdown: {
    name: 'fetch_markdown',
    description: 'Fetch a URL and return Markdown.',
    inputSchema: { $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', properties: { url: { type: 'string' }, max_length: { type: 'integer', minimum: 1 } }, required: ['url'] },
  },
  delete_cache: {
    name: 'delete_cache',
    description: 'Delete the cache.',
    inputSchema: { type: 'object', properties: {} },
  },
} as const

export type Tool = { name: string; description?: unknown; inputSchema?: unknown; annotations?: unknown }

export interface Harness {
  inspector: Inspector
  sink: MemorySink
  metrics: HangarMetrics
  enforcement: QuarantineSwitch
  clock: { now: number }
  dataDir: string
  lines: Array<Record<string, unknown>>
  opts: InspectorOptions
  /** Sends a tools/list response for `tools` through the inspector. */
  list(tools: readonly unknown[], extra?: Record<string, unknown>, ctx?: CallContext): JsonRpcMessage
  /** Sends a tools/call for `name` with `args`; awaits the verdict. */
  call(name: string, args?: unknown, ctx?: CallContext, id?: number | string): Promise<ClientVerdict>
  /** Signals of `type` so far. */
  signals(type?: string): MemorySink['signals']
  /** A counter or histogram value by metric name and labels. */
  metric(name: string, labels: Record<string, string>): Promise<number>
}

let nextId = 1

export function listRequest(cursor?: string): JsonRpcRequest {
  return { jsonrpc: '2.0', id: nextId++, method: 'tools/list', ...(cursor !== undefined && { params: { cursor } }) }
}

export function listResponse(id: number | string, tools: readonly unknown[], extra: Record<string, unknown> = {}): JsonRpcResultResponse {
  return { jsonrpc: '2.0', id, result: { tools: tools as unknown[], ...extra } }
}

export function callRequest(name: string, args?: unknown, id: number | string = nextId++): JsonRpcRequest {
  return { jsonrpc: '2.0', id, method: 'tools/call', params: { name, ...(args !== undefined && { arguments: args }) } }
}

/** Builds an Inspector; `capabilities` is parsed by the real profile schema (defaults applied). */
export function harness(
  t: { teardown(fn: () => void): void },
  capabilities: Record<string, unknown> = {},
  over: Partial<InspectorOptions> & { dataDir?: string } = {},
): Harness {
  const sink = new MemorySink()
  const metrics = createMetrics({ processMetrics: false })
  const enforcement = over.enforcement ?? new QuarantineSwitch()
  const clock = { now: 1_000_000 }
  // Our own dir is removed after the inspector's last pin write.
  const dataDir = over.dataDir ?? tempDir(t, () => inspector.flush())
  const { log, lines } = recordingLogger()
  const opts: InspectorOptions = {
    provider: 'p',
    sidecarId: 'sc-1',
    capabilities: capabilitiesSchema.parse(capabilities),
    maxConcurrency: 10,
    queueTimeoutMs: 30_000,
    dataDir,
    enforcement,
    sink,
    metrics: metrics.proxy,
    sharedMetrics: metrics.egress,
    log,
    clock: () => clock.now,
    ...over,
  }
  const inspector = new Inspector(opts)
  return {
    inspector, sink, metrics, enforcement, clock, dataDir, lines, opts,
    list(tools, extra = {}, ctx = CTX) {
      const req = listRequest()
      return inspector.onServerMessage(listResponse(req.id, tools, extra), req, ctx)
    },
    async call(name, args, ctx = CTX, id) {
      return await inspector.onClientMessage(callRequest(name, args, id), ctx)
    },
    signals(type) {
      return type === undefined ? sink.signals : sink.signals.filter((s) => s.type === type)
    },
    async metric(name, labels) {
      const json = await metrics.registry.getSingleMetricAsString(name.replace(/_(count|sum|bucket)$/, ''))
      // Parse the exposition text: name{labels} value
      for (const line of json.split('\n')) {
        if (line.startsWith('#')) continue
        const m = /^([a-z_]+)(?:\{(.*)\})? (.+)$/.exec(line)
        if (!m || m[1] !== name) continue
        const ls = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]))
        if (Object.entries(labels).every(([k, v]) => ls[k] === v) && Object.keys(ls).length === Object.keys(labels).length) return Number(m[3])
      }
      return 0
    },
  }
}

/** The tools of a tools/list result message. */
export function toolsOf(msg: JsonRpcMessage): Tool[] {
  return ((msg as JsonRpcResultResponse).result.tools as Tool[])
}

/** A deep copy, to check that inputs are never mutated. */
export const clone = <T>(v: T): T => structuredClone(v)
