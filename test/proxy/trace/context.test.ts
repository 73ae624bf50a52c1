// W3C Trace Context from `params._meta` and from HTTP headers (proxy/trace/context.ts), parsed
// by @opentelemetry/core's W3CTraceContextPropagator: valid values, and every invalid form W3C
// Trace Context §3.2 says to ignore.
import t from 'tap'
import { trace, TraceFlags } from '@opentelemetry/api'
import { TraceContextReader } from '../../../proxy/trace/context.js'

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const SPAN = '00f067aa0ba902b7'
const reader = new TraceContextReader()
const meta = (m: unknown) => reader.fromMeta({ name: 'x', _meta: m })

t.test('a valid traceparent in _meta is the remote parent', async (t) => {
  const sc = meta({ traceparent: `00-${TRACE}-${SPAN}-01` })
  t.match(sc, { traceId: TRACE, spanId: SPAN, traceFlags: TraceFlags.SAMPLED, isRemote: true })
  t.equal(meta({ traceparent: `00-${TRACE}-${SPAN}-00` })?.traceFlags, TraceFlags.NONE, 'not sampled is kept as is')
  const withState = meta({ traceparent: `00-${TRACE}-${SPAN}-01`, tracestate: 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE' })
  t.equal(withState?.traceState?.get('rojo'), '00f067aa0ba902b7', 'tracestate is read')
  t.equal(withState?.traceState?.get('congo'), 't61rcWkgMzE')
  t.equal(withState?.traceState?.serialize(), 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE')
})

t.test('a later version is parsed for the fields version 00 knows', async (t) => {
  t.match(meta({ traceparent: `cc-${TRACE}-${SPAN}-01-what-the-future-holds` }), { traceId: TRACE, spanId: SPAN })
  t.match(meta({ traceparent: `01-${TRACE}-${SPAN}-01` }), { traceId: TRACE, spanId: SPAN })
})

t.test('absent, or not where it belongs: no parent', async (t) => {
  t.equal(reader.fromMeta(undefined), undefined, 'no params')
  t.equal(reader.fromMeta({ name: 'x' }), undefined, 'no _meta')
  t.equal(meta({}), undefined, 'empty _meta')
  t.equal(meta({ progressToken: 1 }), undefined, '_meta without traceparent')
  t.equal(meta(null), undefined, '_meta null')
  t.equal(meta('00-' + TRACE + '-' + SPAN + '-01'), undefined, '_meta a string')
  t.equal(meta([`00-${TRACE}-${SPAN}-01`]), undefined, '_meta an array')
  t.equal(meta({ traceparent: 42 }), undefined, 'traceparent a number')
  t.equal(meta({ traceparent: [`00-${TRACE}-${SPAN}-01`] }), undefined, 'traceparent an array')
  t.equal(meta({ Traceparent: `00-${TRACE}-${SPAN}-01` }), undefined, '_meta keys are exact (not HTTP headers)')
  t.equal(reader.fromMeta({ traceparent: `00-${TRACE}-${SPAN}-01` }), undefined, 'a traceparent beside _meta is not read')
})

t.test('malformed values are ignored (W3C Trace Context §3.2)', async (t) => {
  const rows: Array<[string, string]> = [
    ['version ff is invalid', `ff-${TRACE}-${SPAN}-01`],
    ['all-zero trace-id', `00-${'0'.repeat(32)}-${SPAN}-01`],
    ['all-zero parent-id', `00-${TRACE}-${'0'.repeat(16)}-01`],
    ['upper-case hex', `00-${TRACE.toUpperCase()}-${SPAN}-01`],
    ['non-hex characters', `00-${TRACE.slice(0, 31)}g-${SPAN}-01`],
    ['short trace-id', `00-${TRACE.slice(1)}-${SPAN}-01`],
    ['long parent-id', `00-${TRACE}-${SPAN}0-01`],
    ['missing flags', `00-${TRACE}-${SPAN}`],
    ['version 00 with extra fields', `00-${TRACE}-${SPAN}-01-extra`],
    ['one-digit version', `0-${TRACE}-${SPAN}-01`],
    ['wrong separators', `00_${TRACE}_${SPAN}_01`],
    ['empty', ''],
    ['garbage', 'not a traceparent'],
  ]
  for (const [c, v] of rows) t.equal(meta({ traceparent: v }), undefined, c)
  t.equal(meta({ traceparent: `ff-${TRACE}-${SPAN}-01`, tracestate: 'rojo=1' }), undefined, 'the tracestate of an invalid traceparent is not used')
})

t.test('HTTP headers: the transport context (a link)', async (t) => {
  t.match(reader.fromHeaders({ traceparent: `00-${TRACE}-${SPAN}-01`, tracestate: 'a=1' }), { traceId: TRACE, spanId: SPAN, isRemote: true })
  t.equal(reader.fromHeaders({}), undefined, 'absent')
  t.equal(reader.fromHeaders({ traceparent: `00-${'0'.repeat(32)}-${SPAN}-01` }), undefined, 'invalid')
})

t.test('parentContext: a child of the remote span, or a root', async (t) => {
  const sc = meta({ traceparent: `00-${TRACE}-${SPAN}-01` })
  t.match(trace.getSpanContext(reader.parentContext(sc)), { traceId: TRACE, spanId: SPAN })
  t.equal(trace.getSpanContext(reader.parentContext(undefined)), undefined, 'no parent: the root context')
})
