/**
 * Reads `GET /v1/signals/stream` (Server-Sent Events, WHATWG HTML §9.2) with fetch, because
 * EventSource cannot send an `Authorization` header. Events are parsed by eventsource-parser;
 * after the stream ends or fails it reconnects after `retryMs`, sending `Last-Event-ID` with the
 * last id seen, so the aggregator resumes after it and nothing is missed or repeated.
 */
import { createParser } from 'eventsource-parser'
import { authHeaders, type Signal } from './api.js'

/** The stream's state, for the page's status line. */
export type StreamState = 'connecting' | 'live' | 'reconnecting' | 'unauthorized' | 'stopped'

/** Options of {@link openSignalStream}. */
export interface StreamOptions {
  /** Query filter (`kind`, `provider`, `type`, `severity`), as the API takes it. */
  filter: Record<string, string>
  onSignal(s: Signal, id: string): void
  onState(s: StreamState, detail?: string): void
  /** Delay before a reconnect, ms (default 1000). */
  retryMs?: number
}

/** Opens the stream. @returns a function that stops it for good. */
export function openSignalStream(o: StreamOptions): () => void {
  const abort = new AbortController()
  let lastId: string | undefined
  const retryMs = o.retryMs ?? 1000
  const run = async (): Promise<void> => {
    for (let first = true; !abort.signal.aborted; first = false) {
      o.onState(first ? 'connecting' : 'reconnecting')
      try {
        const res = await fetch(`/v1/signals/stream?${new URLSearchParams(o.filter)}`, {
          headers: { ...authHeaders(), Accept: 'text/event-stream', ...(lastId !== undefined && { 'Last-Event-ID': lastId }) },
          credentials: 'omit',
          cache: 'no-store',
          signal: abort.signal,
        })
        if (res.status === 401 || res.status === 403) {
          o.onState('unauthorized', `${res.status}`)
          return
        }
        if (!res.ok || !res.body) throw new Error(`stream answered ${res.status}`)
        o.onState('live')
        const parser = createParser({
          onEvent(ev) {
            if (ev.id !== undefined) lastId = ev.id
            try {
              o.onSignal(JSON.parse(ev.data) as Signal, ev.id ?? '')
            } catch {
              // Not a signal (a comment or keep-alive): ignored.
            }
          },
        })
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
        for (;;) {
          const { value, done } = await reader.read()
          if (done) break
          parser.feed(value)
        }
      } catch {
        // Network error or abort: retried below unless stopped.
      }
      if (abort.signal.aborted) break
      await new Promise((r) => setTimeout(r, retryMs))
    }
    o.onState('stopped')
  }
  void run()
  return () => abort.abort()
}
