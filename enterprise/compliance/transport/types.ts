/**
 * What a sink hands its transport, and what a transport answers. A transport sends one batch at a
 * time and resolves only once the receiver acknowledged it as far as its protocol can say so.
 */

/** One formatted record: the signal's audit sequence number, its id (the dedup key) and its text (one line, no newline). */
export interface ExportRecord {
  seq: number
  id: string
  text: string
}

/** A batch the receiver took, except the records it refused as invalid (poison: they are never retried). */
export interface SendResult {
  /** Indexes into the batch of the records refused for good, with the receiver's reason. */
  rejected: { index: number; reason: string }[]
}

/**
 * The receiver could not take the batch now (connection refused or lost, timeout, 5xx, 429,
 * 401/403): retry it later. `reason` is the `reason` label of `mcp_hangar_export_failed_total`.
 */
export class TransportError extends Error {
  constructor(readonly reason: string, message: string) {
    super(message)
    this.name = 'TransportError'
  }
}

/**
 * The receiver refused the whole batch as invalid (an HTTP 4xx other than 401, 403, 404, 408,
 * 429): the sink splits the batch to find the record it refuses, and dead-letters that one.
 */
export class RejectedError extends Error {
  constructor(readonly status: number, message: string) {
    super(message)
    this.name = 'RejectedError'
  }
}

/** One transport instance per sink. */
export interface Transport {
  /** `file`, `syslog/tls`, `splunk_hec`, … (for status). */
  readonly name: string
  /**
   * Sends a batch, in order.
   * @throws TransportError (retry later) or RejectedError (the whole batch refused as invalid).
   */
  send(batch: readonly ExportRecord[]): Promise<SendResult>
  /** Closes connections and files. Idempotent. */
  close(): Promise<void>
}
