/**
 * Request bodies of the MCP ingress: the media-type checks (pure) and a bounded reader.
 *
 * A body over the limit is refused as early as possible (from `Content-Length`, before reading a
 * byte; or as soon as the stream passes the limit). The rest of the body is then read and
 * discarded, bounded: if the client finishes sending within the drain bounds the connection stays
 * usable (keep-alive) and, above all, the client reads the 413 instead of a reset (closing a
 * socket with unread input makes the kernel send RST, which can destroy the response in flight:
 * the "lingering close" of RFC 9112 §9.6); past the bounds the socket is destroyed, so a client
 * cannot keep the server reading forever. Answer the refusal without `Connection: close`: Node
 * would then close the socket as soon as the response is written, with the body still arriving.
 */
import type { IncomingMessage } from 'node:http'
import { ERROR_CODES, HangarError } from '../errors.js'
import { PASSED, refusal, type Check, type Refusal } from './respond.js'

/** The codes of {@link BodyError} (members of core/errors.ts `ERROR_CODES`). */
export const BODY_ERROR_CODES = {
  /** The body is larger than `ingress.max_body_bytes` → 413. */
  BODY_TOO_LARGE: ERROR_CODES.BODY_TOO_LARGE,
  /** The client aborted the body, or the stream failed → 400. */
  BODY_ABORTED: ERROR_CODES.BODY_ABORTED,
} as const

/**
 * A request body could not be read. `refusal` is the answer to write as is (413
 * `body_too_large` or 400 `bad_request`, no extra headers: see the file comment on why not
 * `Connection: close`); `code` is one of {@link BODY_ERROR_CODES}.
 */
export class BodyError extends HangarError {
  readonly refusal: Refusal
  constructor(code: (typeof BODY_ERROR_CODES)[keyof typeof BODY_ERROR_CODES], r: Refusal, options?: { cause?: unknown }) {
    super(code, r.message, options)
    this.refusal = r
  }

  /** The HTTP status to answer: 413 or 400. */
  get status(): number {
    return this.refusal.status
  }
}

/** Bounds of the discarding read after a refusal. */
export interface DrainOptions {
  /** Bytes read and discarded after the refusal before the socket is destroyed. Default 16 MiB. */
  drainBytes?: number
  /** Time after the refusal before the socket is destroyed if the body has not ended, ms. Default 5000. */
  drainMs?: number
}

const DEFAULT_DRAIN_BYTES = 16 * 1024 * 1024
const DEFAULT_DRAIN_MS = 5000

/**
 * Reads a request body into one Buffer of at most `maxBytes` bytes.
 * @param maxBytes `ingress.max_body_bytes`.
 * @throws BodyError `HANGAR_BODY_TOO_LARGE` (413) when `Content-Length` or the bytes read
 *   exceed `maxBytes` (the remainder is then drained within {@link DrainOptions}); `HANGAR_BODY_ABORTED`
 *   (400) when the request is aborted or fails before its end.
 */
export function readBody(req: IncomingMessage, maxBytes: number, opts: DrainOptions = {}): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    if (req.destroyed) {
      reject(aborted())
      return
    }
    const declared = req.headers['content-length']
    if (declared !== undefined && Number(declared) > maxBytes) {
      reject(tooLarge(maxBytes))
      drain(req, opts)
      return
    }
    const chunks: Buffer[] = []
    let total = 0
    const cleanup = () => {
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', onError)
      req.off('close', onClose)
    }
    const onData = (chunk: Buffer) => {
      total += chunk.length
      if (total > maxBytes) {
        cleanup()
        chunks.length = 0
        reject(tooLarge(maxBytes))
        drain(req, opts)
        return
      }
      chunks.push(chunk)
    }
    const onEnd = () => {
      cleanup()
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total))
    }
    const onError = (err: Error) => {
      cleanup()
      req.on('error', noop)
      reject(aborted(err))
    }
    const onClose = () => {
      cleanup()
      reject(aborted())
    }
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', onError)
    req.on('close', onClose)
  })
}

function tooLarge(maxBytes: number): BodyError {
  return new BodyError(BODY_ERROR_CODES.BODY_TOO_LARGE, refusal(413, 'body_too_large', `Payload Too Large: Request body must not exceed ${maxBytes} bytes`))
}

const ABORTED = refusal(400, 'bad_request', 'Bad Request: the request body was aborted')

function aborted(cause?: unknown): BodyError {
  return new BodyError(BODY_ERROR_CODES.BODY_ABORTED, ABORTED, cause === undefined ? undefined : { cause })
}

function noop(): void {}

/** Reads and discards the rest of a refused body, within the drain bounds; past them destroys the socket. */
function drain(req: IncomingMessage, opts: DrainOptions): void {
  const limit = opts.drainBytes ?? DEFAULT_DRAIN_BYTES
  let drained = 0
  const socket = req.socket
  const stop = () => {
    clearTimeout(timer)
    req.off('data', onData)
    req.off('end', stop)
    req.off('close', stop)
  }
  const kill = () => {
    stop()
    socket.destroy()
  }
  const onData = (chunk: Buffer) => {
    drained += chunk.length
    if (drained > limit) kill()
  }
  const timer = setTimeout(kill, opts.drainMs ?? DEFAULT_DRAIN_MS)
  timer.unref()
  req.on('error', noop)
  req.on('data', onData)
  req.once('end', stop)
  req.once('close', stop)
  req.resume()
}

const UNSUPPORTED_TYPE = refusal(415, 'unsupported_media_type', 'Unsupported Media Type: Content-Type must be application/json')
const UNSUPPORTED_CHARSET = refusal(415, 'unsupported_media_type', 'Unsupported Media Type: JSON must be UTF-8')
const UNSUPPORTED_ENCODING = refusal(415, 'unsupported_media_type', 'Unsupported Media Type: Content-Encoding is not supported; send the body uncompressed', {
  'Accept-Encoding': 'identity',
})

let lastType: string | undefined
let lastTypeResult: Check = UNSUPPORTED_TYPE

/**
 * The `Content-Type` check of a POST (Streamable HTTP: the body is a JSON-RPC message or batch;
 * the MCP SDK answers anything else with 415). The media type must be `application/json`
 * (case-insensitive, RFC 9110 §8.3.1); parameters are allowed, but a `charset` other than UTF-8 is
 * refused (RFC 8259 §8.1: JSON exchanged between systems "MUST be encoded using UTF-8").
 * @returns {@link PASSED}, or a 415 refusal (`unsupported_media_type`).
 */
export function checkContentType(contentType: string | undefined): Check {
  if (contentType === undefined) return UNSUPPORTED_TYPE
  if (contentType === lastType) return lastTypeResult
  const semi = contentType.indexOf(';')
  const type = (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase()
  let r: Check = type === 'application/json' ? PASSED : UNSUPPORTED_TYPE
  if (r.ok && semi !== -1) {
    for (const p of contentType.slice(semi + 1).split(';')) {
      const eq = p.indexOf('=')
      if (eq === -1 || p.slice(0, eq).trim().toLowerCase() !== 'charset') continue
      const cs = p.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1').toLowerCase()
      if (cs !== 'utf-8' && cs !== 'utf8') r = UNSUPPORTED_CHARSET
    }
  }
  lastType = contentType
  lastTypeResult = r
  return r
}

/**
 * The `Content-Encoding` check: the ingress does not decompress, so any coding other than
 * `identity` → 415 (RFC 9110 §15.5.16: "If the problem was caused by an unsupported content
 * coding, the Accept-Encoding response header field … ought to be used").
 * @returns {@link PASSED}, or a 415 refusal carrying `Accept-Encoding: identity`.
 */
export function checkContentEncoding(contentEncoding: string | undefined): Check {
  if (contentEncoding === undefined) return PASSED
  const e = contentEncoding.trim().toLowerCase()
  return e === '' || e === 'identity' ? PASSED : UNSUPPORTED_ENCODING
}
