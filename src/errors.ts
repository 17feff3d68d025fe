/**
 * Errors as data: one set of stable codes, one wire body, one table from code to HTTP
 * status. The gateway throws these; the edge client rebuilds them from the body.
 */

/** Every error code of protocol v1, with its HTTP status. */
export const ERROR_STATUS = {
  BAD_REQUEST: 400,
  DATABASE_ERROR: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  TX_NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  RESULT_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  POOL_QUEUE_FULL: 429,
  TX_LIMIT_REACHED: 429,
  INTERNAL: 500,
  POOL_TIMEOUT: 503,
  DB_UNAVAILABLE: 503,
  SHUTTING_DOWN: 503,
  TENANT_PAUSED: 503,
  STATEMENT_TIMEOUT: 504,
  /** The client went away before the answer (nginx's 499): seen only in logs and metrics. */
  CLIENT_CLOSED: 499,
} as const

/** A stable, SCREAMING_SNAKE error code. */
export type ErrorCode = keyof typeof ERROR_STATUS

/**
 * The codes whose answer carries `Retry-After` (seconds): the gateway or the database is
 * busy or going away for a moment. Whether a retry is safe is each error's `retryable`.
 */
export const RETRY_AFTER_SECONDS: Partial<Record<ErrorCode, number>> = {
  RATE_LIMITED: 1,
  DB_UNAVAILABLE: 1,
  POOL_QUEUE_FULL: 1,
  TX_LIMIT_REACHED: 1,
  POOL_TIMEOUT: 1,
  SHUTTING_DOWN: 1,
  TENANT_PAUSED: 1,
}

/** The PostgreSQL error fields the gateway passes on, when PostgreSQL sent them. */
export const DATABASE_ERROR_FIELDS = [
  'sqlstate',
  'severity',
  'detail',
  'hint',
  'position',
  'internalPosition',
  'internalQuery',
  'schema',
  'table',
  'column',
  'dataType',
  'constraint',
  'where',
] as const

/** One of {@link DATABASE_ERROR_FIELDS}. */
export type DatabaseErrorField = (typeof DATABASE_ERROR_FIELDS)[number]

/** The `error` object of every non-2xx response body. */
export interface ErrorPayload extends Partial<Record<DatabaseErrorField, string>> {
  code: ErrorCode
  message: string
  retryable: boolean
  /** Index of the failing statement in a batch. */
  statementIndex?: number
}

/**
 * What the gateway appends to the message of a statement that failed inside an interactive
 * transaction: PostgreSQL's own message is the text before it.
 */
export const TX_ABORTED_NOTE =
  ' (the transaction is now aborted: roll back, or roll back to a savepoint)'

/** Every non-2xx response body: `{ "error": { ... } }`. */
export interface ErrorBody {
  error: ErrorPayload
}

const BRAND = Symbol.for('sluice.error')

/** Options of {@link SluiceError}: everything of the payload but code and message. */
export type SluiceErrorOptions = Omit<ErrorPayload, 'code' | 'message' | 'retryable'> & {
  retryable?: boolean
  /** Seconds for a `Retry-After` header, over the code's {@link RETRY_AFTER_SECONDS}. */
  retryAfter?: number | undefined
  cause?: unknown
}

/**
 * An error with a stable code. `retryable: true` promises that retrying is safe: the
 * statement did not run, or PostgreSQL asked for a retry.
 */
export class SluiceError extends Error {
  // Declared, not class fields: the constructor sets each, and the bundle carries no
  // field definitions.
  declare readonly code: ErrorCode
  declare readonly retryable: boolean
  declare readonly retryAfter: number | undefined
  declare readonly fields: Omit<ErrorPayload, 'code' | 'message' | 'retryable'>

  constructor(code: ErrorCode, message: string, options: SluiceErrorOptions = {}) {
    const { retryable, retryAfter, cause, ...fields } = options
    super(message, cause === undefined ? undefined : { cause })
    this.code = code
    this.retryable = retryable ?? false
    this.retryAfter = retryAfter
    this.fields = fields
    this.name = 'SluiceError'
    Object.defineProperty(this, BRAND, { value: true })
  }

  /** The HTTP status for this error's code. */
  get status(): number {
    return ERROR_STATUS[this.code]
  }

  /** The wire body of this error. */
  toBody(): ErrorBody {
    return {
      error: { code: this.code, message: this.message, retryable: this.retryable, ...this.fields },
    }
  }
}

/** True for a {@link SluiceError} from any realm or copy of this module. */
export function isSluiceError(value: unknown): value is SluiceError {
  return typeof value === 'object' && value !== null && BRAND in value
}

/** True when `code` is one of protocol v1's error codes. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_STATUS, code)
}
