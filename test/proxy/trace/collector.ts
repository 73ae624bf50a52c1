// An OTLP/gRPC trace collector for tests: a real @grpc/grpc-js server on 127.0.0.1 implementing
// opentelemetry.proto.collector.trace.v1.TraceService/Export, decoding ExportTraceServiceRequest
// with @grpc/proto-loader (protobufjs) from the OTLP definitions in otlp-trace.proto.
import { fileURLToPath } from 'node:url'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'

const PROTO = fileURLToPath(new URL('./otlp-trace.proto', import.meta.url))

export type AttrValue = string | number | boolean | AttrValue[]

/** One exported span, flattened: ids as lower-case hex, kind and status code as the OTLP enum names. */
export interface CollectedSpan {
  traceId: string
  spanId: string
  /** '' for a root span. */
  parentSpanId: string
  traceState: string
  name: string
  /** `SPAN_KIND_SERVER`, … */
  kind: string
  attributes: Record<string, AttrValue>
  /** `STATUS_CODE_UNSET` | `STATUS_CODE_OK` | `STATUS_CODE_ERROR`. */
  status: { code: string; message: string }
  links: Array<{ traceId: string; spanId: string }>
  /** The resource attributes of its batch. */
  resource: Record<string, AttrValue>
  scope: string
  startNs: bigint
  endNs: bigint
}

export interface Collector {
  port: number
  /** `http://127.0.0.1:<port>` (plaintext gRPC). */
  url: string
  spans: CollectedSpan[]
  /** Export calls received. */
  exports: number
  /** The metadata of each Export call. */
  metadata: Array<Record<string, string>>
  /** Resolves with the spans matching `pred` once `count` of them arrived; rejects after `timeoutMs`. */
  waitFor(pred: (s: CollectedSpan) => boolean, count?: number, timeoutMs?: number): Promise<CollectedSpan[]>
  close(): Promise<void>
}

interface AnyValue { value?: string; stringValue?: string; boolValue?: boolean; intValue?: string; doubleValue?: number; arrayValue?: { values: AnyValue[] }; bytesValue?: Buffer }
interface KeyValue { key: string; value?: AnyValue }
interface RawSpan {
  traceId: Buffer; spanId: Buffer; parentSpanId: Buffer; traceState: string; name: string; kind: string
  startTimeUnixNano: string; endTimeUnixNano: string; attributes: KeyValue[]
  links: Array<{ traceId: Buffer; spanId: Buffer }>; status?: { code: string; message: string }
}
interface RawRequest {
  resourceSpans: Array<{ resource?: { attributes: KeyValue[] }; scopeSpans: Array<{ scope?: { name: string }; spans: RawSpan[] }> }>
}

function anyValue(v: AnyValue | undefined): AttrValue {
  if (!v || !v.value) return ''
  switch (v.value) {
    case 'stringValue': return v.stringValue ?? ''
    case 'boolValue': return v.boolValue ?? false
    case 'intValue': return Number(v.intValue)
    case 'doubleValue': return v.doubleValue ?? 0
    case 'arrayValue': return (v.arrayValue?.values ?? []).map(anyValue)
    case 'bytesValue': return (v.bytesValue ?? Buffer.alloc(0)).toString('hex')
    default: return ''
  }
}

function attrs(kvs: KeyValue[] | undefined): Record<string, AttrValue> {
  const out: Record<string, AttrValue> = {}
  for (const kv of kvs ?? []) out[kv.key] = anyValue(kv.value)
  return out
}

/** Starts the collector on a free loopback port. */
export async function startCollector(): Promise<Collector> {
  const def = protoLoader.loadSync(PROTO, { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true })
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    opentelemetry: { proto: { collector: { trace: { v1: { TraceService: grpc.ServiceClientConstructor } } } } }
  }
  const service = pkg.opentelemetry.proto.collector.trace.v1.TraceService.service
  const spans: CollectedSpan[] = []
  const metadata: Array<Record<string, string>> = []
  const waiters = new Set<() => void>()
  const state = { exports: 0 }
  const server = new grpc.Server()
  server.addService(service, {
    Export(call: grpc.ServerUnaryCall<RawRequest, unknown>, done: grpc.sendUnaryData<unknown>) {
      state.exports += 1
      const md: Record<string, string> = {}
      for (const [k, v] of Object.entries(call.metadata.getMap())) md[k] = String(v)
      metadata.push(md)
      for (const rs of call.request.resourceSpans) {
        const resource = attrs(rs.resource?.attributes)
        for (const ss of rs.scopeSpans) {
          for (const s of ss.spans) {
            spans.push({
              traceId: s.traceId.toString('hex'),
              spanId: s.spanId.toString('hex'),
              parentSpanId: s.parentSpanId.toString('hex'),
              traceState: s.traceState,
              name: s.name,
              kind: s.kind,
              attributes: attrs(s.attributes),
              status: { code: s.status?.code ?? 'STATUS_CODE_UNSET', message: s.status?.message ?? '' },
              links: s.links.map((l) => ({ traceId: l.traceId.toString('hex'), spanId: l.spanId.toString('hex') })),
              resource,
              scope: ss.scope?.name ?? '',
              startNs: BigInt(s.startTimeUnixNano),
              endNs: BigInt(s.endTimeUnixNano),
            })
          }
        }
      }
      done(null, {})
      for (const w of [...waiters]) w()
    },
  })
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)))
  })
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    spans,
    get exports() {
      return state.exports
    },
    metadata,
    waitFor(pred, count = 1, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const found = spans.filter(pred)
          if (found.length < count) return false
          waiters.delete(check)
          clearTimeout(timer)
          resolve(found)
          return true
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`collector: ${count} matching span(s) not exported within ${timeoutMs} ms; got ${JSON.stringify(spans.map((s) => s.name))}`))
        }, timeoutMs)
        if (!check()) waiters.add(check)
      })
    },
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  }
}
