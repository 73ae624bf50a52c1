/** Errors of the signal spool (signals/spool.ts); codes in core/errors.ts and docs/errors.md. */
import { ERROR_CODES, HangarError } from '../core/errors.js'

/** Stable codes of {@link SpoolError}. */
export const SPOOL_ERROR_CODES = {
  /** A spool file could not be opened, written or created (disk full, permissions, I/O error). */
  SPOOL_IO: ERROR_CODES.SPOOL_IO,
  /** The spool was used after `close()`. */
  SPOOL_CLOSED: ERROR_CODES.SPOOL_CLOSED,
} as const

export type SpoolErrorCode = (typeof SPOOL_ERROR_CODES)[keyof typeof SPOOL_ERROR_CODES]

/** A spool operation failed; `code` is one of {@link SPOOL_ERROR_CODES}. */
export class SpoolError extends HangarError {
  constructor(code: SpoolErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options)
  }
}
