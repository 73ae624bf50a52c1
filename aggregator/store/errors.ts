/**
 * Typed errors of the aggregator's store (audit log + index). Their codes are members of
 * core/errors.ts `ERROR_CODES` (matched on `code`, never on the message; listed in docs/errors.md).
 */
import { ERROR_CODES, HangarError, type ErrorCode } from '../../core/errors.js'

/** The stable codes of this folder (members of core's ERROR_CODES; meanings in docs/errors.md). */
export const STORE_ERROR_CODES = {
  /** A batch could not be written and fsynced to the audit log; nothing of it was kept. */
  AUDIT_WRITE_FAILED: ERROR_CODES.AUDIT_WRITE_FAILED,
  /** The audit log has no room: retained records fill its size budget, or the disk is full. */
  AUDIT_FULL: ERROR_CODES.AUDIT_FULL,
  /** The audit log directory or file could not be opened. */
  AUDIT_OPEN_FAILED: ERROR_CODES.AUDIT_OPEN_FAILED,
  /** The store (or its audit log) was closed. */
  STORE_CLOSED: ERROR_CODES.STORE_CLOSED,
  /** A query parameter is invalid (`since` not RFC 3339, a cursor or limit that is not a whole number). */
  QUERY_INVALID: ERROR_CODES.QUERY_INVALID,
} as const

export type StoreErrorCode = (typeof STORE_ERROR_CODES)[keyof typeof STORE_ERROR_CODES]

const asCode = (code: StoreErrorCode): ErrorCode => code

/** A batch was not made durable. `cause` is the fs error. The caller should answer 503 and the sender retry. */
export class AuditWriteError extends HangarError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(asCode(STORE_ERROR_CODES.AUDIT_WRITE_FAILED), message, options)
  }
}

/**
 * A batch was refused for lack of room (answer 507): `reason` `budget` (retained records fill
 * `maxTotalBytes`) or `disk_full` (ENOSPC/EDQUOT). Nothing of the batch was written.
 */
export class AuditFullError extends HangarError {
  readonly reason: 'budget' | 'disk_full'
  constructor(reason: 'budget' | 'disk_full', message: string, options?: { cause?: unknown }) {
    super(asCode(STORE_ERROR_CODES.AUDIT_FULL), message, options)
    this.reason = reason
  }
}

/** The audit log could not be opened (permissions, not a directory, …). `cause` is the fs error. */
export class AuditOpenError extends HangarError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(asCode(STORE_ERROR_CODES.AUDIT_OPEN_FAILED), message, options)
  }
}

/** An operation on a closed store or audit log. */
export class StoreClosedError extends HangarError {
  constructor(what = 'signal store') {
    super(asCode(STORE_ERROR_CODES.STORE_CLOSED), `${what} is closed`)
  }
}

/** An invalid query; `param` names the parameter (`since`, `after`, `before`, `limit`). */
export class QueryError extends HangarError {
  readonly param: string
  constructor(param: string, message: string) {
    super(asCode(STORE_ERROR_CODES.QUERY_INVALID), `${param}: ${message}`)
    this.param = param
  }
}
