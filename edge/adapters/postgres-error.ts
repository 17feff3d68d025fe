/**
 * PostgreSQL's errors in the shape node-postgres gives them, which Drizzle and Kysely code
 * matches on: `code` is the SQLSTATE (`error.code === '23505'`), beside `constraint`,
 * `detail`, `table`… and `message` is PostgreSQL's own. The gateway's own error stays
 * reachable as `cause`.
 */
import { isDatabaseError, isGatewayError, type DatabaseError } from '../errors.js'
import { DATABASE_ERROR_FIELDS, TX_ABORTED_NOTE, type ErrorCode } from '../../src/errors.js'

/**
 * PostgreSQL's message of a database error, without the note the gateway appends to a
 * statement that failed inside a transaction: what node-postgres would report, and what
 * code matching on message text (Prisma's engine, for one) reads.
 */
export function postgresMessage(error: DatabaseError): string {
  return error.message.endsWith(TX_ABORTED_NOTE)
    ? error.message.slice(0, -TX_ABORTED_NOTE.length)
    : error.message
}

/** A PostgreSQL error as node-postgres shapes it; `cause` is the client's {@link DatabaseError}. */
export class PostgresError extends Error {
  /** The SQLSTATE, e.g. `23505` for a unique violation. */
  readonly code: string
  /** The gateway's stable code: `DATABASE_ERROR`, `CONFLICT`, `FORBIDDEN`, `STATEMENT_TIMEOUT`. */
  readonly gatewayCode: ErrorCode
  /** True when running it again is safe (a serialization failure, a deadlock). */
  readonly retryable: boolean
  declare readonly severity?: string
  declare readonly detail?: string
  declare readonly hint?: string
  declare readonly position?: string
  declare readonly internalPosition?: string
  declare readonly internalQuery?: string
  declare readonly where?: string
  declare readonly schema?: string
  declare readonly table?: string
  declare readonly column?: string
  declare readonly dataType?: string
  declare readonly constraint?: string
  declare readonly cause: DatabaseError

  constructor(error: DatabaseError) {
    super(postgresMessage(error), { cause: error })
    this.name = 'PostgresError'
    this.code = error.sqlstate
    this.gatewayCode = error.code
    this.retryable = error.retryable
    // The protocol's fields only, as the DatabaseError itself holds them.
    for (const field of DATABASE_ERROR_FIELDS) {
      if (field !== 'sqlstate' && error[field] !== undefined) {
        Object.assign(this, { [field]: error[field] })
      }
    }
  }
}

/** A {@link PostgresError} for a database error; any other error as it is. */
export function asPostgresError(error: unknown): unknown {
  return isDatabaseError(error) ? new PostgresError(error) : error
}

/** True when the gateway no longer knows the transaction: it already ended (rolled back). */
export function isTransactionGone(error: unknown): boolean {
  return isGatewayError(error) && error.code === 'TX_NOT_FOUND'
}
