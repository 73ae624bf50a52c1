/**
 * SSE parsing (core/http/sse.ts SseReader over eventsource-parser, and its writer formatEvent;
 * WHATWG HTML §9.2). Events written by formatEvent and cut into byte chunks anywhere (inside a
 * UTF-8 character, between CR and LF) read back as the same events; the events of any byte
 * stream do not depend on how it is chunked; buffering is bounded (an event or line that outgrows
 * `maxBufferChars` across chunks ends the stream with HANGAR_SSE_EVENT_TOO_LARGE); and any bytes
 * throw nothing but SseStreamError and finish in time.
 */
import { isDeepStrictEqual } from 'node:util'
import fc from 'fast-check'
import { SSE_ERROR_CODES, SseStreamError, formatEvent, SseReader, type SseEvent } from '../../../core/http/sse.js'
import { chunk, splits, withinTimeAsync, type FuzzTarget } from '../lib/fuzz.js'

const text = (max: number) =>
  fc.array(fc.oneof({ weight: 4, arbitrary: fc.string({ unit: 'grapheme', maxLength: 6 }) }, { weight: 1, arbitrary: fc.constantFrom('\r', '\n', '\r\n', ':', ' ', 'data:', '\u2028', '\uFEFF', '\0') }), { maxLength: max }).map((a) => a.join(''))

const event: fc.Arbitrary<SseEvent> = fc.record(
  {
    data: text(12),
    id: text(4).map((s) => s.replace(/[\r\n\0]/g, '')),
    event: text(3).map((s) => s.replace(/[\r\n]/g, '')),
    retry: fc.nat(),
  },
  { requiredKeys: ['data'] },
)

/** What the reader gives back for an event formatEvent wrote (WHATWG: an empty event type is the default type). */
function expected(e: SseEvent): SseEvent {
  const out: SseEvent = { data: e.data.replace(/\r\n|\r|\n/g, '\n') }
  if (e.id !== undefined) out.id = e.id
  if (e.event !== undefined && e.event !== '') out.event = e.event
  if (e.retry !== undefined) out.retry = e.retry
  return out
}

/** Reads `chunks` through an SseReader; returns the events and the error code it ended with, if any. */
async function read(chunks: readonly Uint8Array[], maxBufferChars?: number): Promise<{ events: SseEvent[]; error?: string }> {
  async function* body() {
    for (const c of chunks) yield c
  }
  const events: SseEvent[] = []
  try {
    for await (const e of new SseReader(body(), maxBufferChars === undefined ? {} : { maxBufferChars })) events.push(e)
  } catch (e) {
    if (!(e instanceof SseStreamError)) throw new Error(`threw ${String(e)}, not an SseStreamError`)
    return { events, error: e.code }
  }
  return { events }
}

const SSE_BITS = ['data:', 'data: ', 'id:', 'event:', 'retry:', 'retry: 12', ':', '\n', '\r', '\r\n', '\n\n', ' ', 'x', '{"a":1}', '\u00e9', '\u{1f600}', '\0']
const anyStream = fc.oneof(
  fc.array(fc.constantFrom(...SSE_BITS), { maxLength: 60 }).map((a) => Buffer.from(a.join(''))),
  fc.uint8Array({ maxLength: 200 }).map((u) => Buffer.from(u)),
  fc.array(event, { maxLength: 4 }).map((es) => Buffer.from(es.map(formatEvent).join(''))),
)

export const sseTarget: FuzzTarget = {
  parser: 'sse',
  source: 'core/http/sse.ts (SseReader, formatEvent) with eventsource-parser',
  properties: [
    {
      name: 'events written by formatEvent and cut into byte chunks anywhere read back as the same events',
      weight: 3,
      property: () =>
        fc.asyncProperty(fc.array(event, { maxLength: 5 }).chain((es) => {
          const bytes = Buffer.from(es.map(formatEvent).join(''))
          return fc.tuple(fc.constant(es), fc.constant(bytes), splits(bytes.length, 10))
        }), async ([es, bytes, cuts]) => {
          const got = await read(chunk(bytes, cuts))
          const want = es.map(expected)
          if (got.error || !isDeepStrictEqual(got.events, want)) throw new Error(`got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`)
          return true
        }),
    },
    {
      name: 'the events of any byte stream do not depend on its chunking',
      weight: 3,
      property: () =>
        fc.asyncProperty(anyStream.chain((b) => fc.tuple(fc.constant(b), splits(b.length, 12))), async ([bytes, cuts]) => {
          const whole = await withinTimeAsync(() => read([bytes]))
          const cut = await read(chunk(bytes, cuts))
          // One byte per chunk too (every CR/LF and UTF-8 split at once), for streams short enough to be cheap.
          const bytewise = bytes.length <= 64 ? await read(chunk(bytes, Array.from({ length: Math.max(0, bytes.length - 1) }, (_, i) => i + 1))) : cut
          if (!isDeepStrictEqual(whole, cut) || !isDeepStrictEqual(whole, bytewise)) throw new Error(`${JSON.stringify(whole)} vs ${JSON.stringify(cut)} vs ${JSON.stringify(bytewise)}`)
          return true
        }),
    },
    {
      name: 'buffering is bounded: an event or line outgrowing maxBufferChars across chunks ends the stream with HANGAR_SSE_EVENT_TOO_LARGE',
      weight: 2,
      property: () =>
        fc.asyncProperty(fc.integer({ min: 8, max: 200 }), fc.integer({ min: 4, max: 50 }), fc.boolean(), async (max, per, lines) => {
          // Chunks of `per` characters, never a blank line: `lines` → many data lines; else one endless line.
          const piece = lines ? `data: ${'y'.repeat(per)}\n` : 'z'.repeat(per)
          const chunks = Array.from({ length: Math.ceil((3 * max) / per) + 2 }, (_, i) => Buffer.from(i === 0 && !lines ? `data: ${piece}` : piece))
          const r = await read(chunks, max)
          if (r.error !== SSE_ERROR_CODES.SSE_EVENT_TOO_LARGE || r.events.length !== 0) throw new Error(JSON.stringify(r))
          // Control: the same content with a blank line after each chunk's line is read event by event.
          if (lines) {
            const ok = await read(chunks.map((c) => Buffer.concat([c, Buffer.from('\n')])), max)
            if (ok.error || ok.events.length !== chunks.length) throw new Error(`control: ${JSON.stringify(ok).slice(0, 200)}`)
          }
          return true
        }),
    },
    {
      name: 'any bytes: only SseStreamError, no event larger than the buffer limit plus the chunk that completed it, in time',
      weight: 4,
      property: () =>
        fc.asyncProperty(anyStream.chain((b) => fc.tuple(fc.constant(b), splits(b.length, 6))), fc.integer({ min: 4, max: 64 }), async ([bytes, cuts], max) => {
          const chunks = chunk(bytes, cuts)
          const r = await withinTimeAsync(() => read(chunks, max))
          const largest = Math.max(0, ...chunks.map((c) => c.length))
          // What is held between chunks is at most `max` characters; the chunk that completes an event adds at most its own length.
          for (const e of r.events) if (e.data.length > max + largest) throw new Error(`event of ${e.data.length} chars with limit ${max}, chunks ≤ ${largest} bytes`)
          return true
        }),
    },
  ],
}
