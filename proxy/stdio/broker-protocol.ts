/**
 * The wire format between a sidecar and the container broker of `mcp-hangar up`
 * (local/container-broker.ts), over a Unix socket mounted into the sidecar's container. One
 * connection is one provider container: connecting creates and starts it, closing the connection
 * stops and removes it. This keeps the Docker API out of the sidecar (a network-facing process)
 * and still lets its lifecycle (lazy start, idle stop, restart, breaker) drive the container.
 *
 * Frames: `[type: u8][length: u32 big-endian][payload]`, in both directions.
 * - sidecar → broker: {@link FRAME.stdin} (bytes for the container's stdin), {@link FRAME.stdinEnd}
 *   (close its stdin), {@link FRAME.signal} (payload: a signal name, e.g. `SIGTERM`).
 * - broker → sidecar: {@link FRAME.started} (JSON `{id}`), {@link FRAME.stdout}, {@link FRAME.stderr},
 *   {@link FRAME.exit} (JSON `{code, signal?, error?}`, the last frame; the broker then closes).
 */

/** Frame types. */
export const FRAME = Object.freeze({
  stdin: 0,
  stdinEnd: 1,
  signal: 2,
  started: 10,
  stdout: 11,
  stderr: 12,
  exit: 13,
})

/** Largest payload accepted, bytes (a stdout chunk is far smaller; this bounds a hostile peer). */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024

/** One decoded frame. */
export interface Frame {
  type: number
  payload: Buffer
}

/** How a container ended, as the exit frame carries it. */
export interface ContainerExitInfo {
  /** Exit code; null when it never ran (`error` says why). */
  code: number | null
  /** The signal the broker sent that ended it, when one did. */
  signal?: string
  /** Why it could not be created or started (image missing, Docker unreachable, …). */
  error?: string
}

/** Encodes one frame. */
export function encodeFrame(type: number, payload: Buffer | string = Buffer.alloc(0)): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload
  const head = Buffer.allocUnsafe(5)
  head.writeUInt8(type, 0)
  head.writeUInt32BE(body.length, 1)
  return Buffer.concat([head, body])
}

/** The frame is larger than {@link MAX_FRAME_BYTES}. */
export class FrameTooLargeError extends Error {
  constructor(readonly length: number) {
    super(`broker frame of ${length} bytes exceeds ${MAX_FRAME_BYTES}`)
    this.name = 'FrameTooLargeError'
  }
}

/** Splits a byte stream into frames. */
export class FrameDecoder {
  #buf: Buffer = Buffer.alloc(0)

  /**
   * Adds bytes; returns the frames now complete.
   * @throws FrameTooLargeError for a frame over the limit (the stream is then unusable).
   */
  push(chunk: Buffer): Frame[] {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk
    const out: Frame[] = []
    while (this.#buf.length >= 5) {
      const len = this.#buf.readUInt32BE(1)
      if (len > MAX_FRAME_BYTES) throw new FrameTooLargeError(len)
      if (this.#buf.length < 5 + len) break
      out.push({ type: this.#buf.readUInt8(0), payload: this.#buf.subarray(5, 5 + len) })
      this.#buf = this.#buf.subarray(5 + len)
    }
    return out
  }

  /** Bytes received that do not yet form a frame. */
  get pending(): number {
    return this.#buf.length
  }
}
