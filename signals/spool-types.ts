/** The shapes of the signal spool's API (signals/spool.ts): its options, its losses, a batch. */
import type { Logger } from '../core/log.js'
import type { Cursor } from './spool-format.js'
import type { Signal } from './types.js'

/** Options of `Spool.open`. */
export interface SpoolOptions {
  /** Rotate a segment when the next line would take it past this many bytes. Default 4 MiB. */
  segmentBytes?: number
  /** Most bytes of segment files; beyond it the oldest segments are dropped. ≥ 2 × segmentBytes. Default 64 MiB. */
  maxBytes?: number
  /** Group-commit interval of fsync, ms; 0 = only when `Spool.sync` is called. Default 1000. */
  fsyncIntervalMs?: number
  log?: Logger
}

/** Signals the spool lost, by cause (each becomes a metric and a `signals_dropped` signal). */
export interface SpoolDrop {
  /** `spool_full`: oldest segment dropped; `corrupt`: an unparsable line skipped; `torn`: a partial last line truncated after a crash. */
  reason: 'spool_full' | 'corrupt' | 'torn'
  /** Signals (lines) lost. */
  count: number
  /** `time` of the first and last lost signal, when readable. */
  oldest_time?: string
  newest_time?: string
}

/** One batch read from the cursor by `Spool.readBatch`. */
export interface SpoolBatch {
  /** The parsed signals, oldest first. */
  signals: Signal[]
  /** Their JSON lines as spooled (without the newline), same order. */
  lines: string[]
  /** Sum of the lines' UTF-8 bytes plus one separator each. */
  bytes: number
  /** Where the batch ends: pass it to `Spool.ack` once the batch is acknowledged. */
  end: Cursor
  /** Unparsable lines met in this range for the first time (skipped; acknowledged with the batch). */
  corrupt: SpoolDrop | undefined
  /** True when lines remain after `end` (the batch was capped by `max` or `maxBytes`). */
  more: boolean
}
