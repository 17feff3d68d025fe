/**
 * From whatever a statement threw to a {@link SluiceError} with a stable code: PostgreSQL's
 * errors keep their fields (never pg's file/line/routine), connection failures become
 * DB_UNAVAILABLE, and nothing internal leaks into a response.
 */
import {
  DATABASE_ERROR_FIELDS,
  SluiceError,
  isSluiceError,
  type ErrorCode,
  type SluiceErrorOptions,
} from '../../src/errors.js'

const PG_FIELD_OF: Record<(typeof DATABASE_ERROR_FIELDS)[number], string> = {
  sqlstate: 'code',
  severity: 'severity',
  detail: 'detail',
  hint: 'hint',
  position: 'position',
  internalPosition: 'internalPosition',
  internalQuery: 'internalQuery',
  schema: 'schema',
  table: 'table',
  column: 'column',
  dataType: 'dataType',
  constraint: 'constraint',
  where: 'where',
}

/** True for an error PostgreSQL sent (pg's DatabaseError). */
export function isPostgresError(
  error: unknown,
): error is Error & { code: string; severity: string } {
  return (
    error instanceof Error &&
    typeof (error as { code?: unknown }).code === 'string' &&
    typeof (error as { severity?: unknown }).severity === 'string'
  )
}

function codeForSqlstate(
  sqlstate: string,
  severity: string,
): { code: ErrorCode; retryable: boolean } {
  if (sqlstate === '57014') return { code: 'STATEMENT_TIMEOUT', retryable: false }
  if (sqlstate === '40001' || sqlstate === '40P01') return { code: 'CONFLICT', retryable: true }
  if (sqlstate === '25006') return { code: 'FORBIDDEN', retryable: false }
  // protocol_violation: the client's message was wrong (a parameter count, say), not the link.
  if (sqlstate === '08P01') return { code: 'BAD_REQUEST', retryable: false }
  if (sqlstate === '57P03' || sqlstate === '53300')
    return { code: 'DB_UNAVAILABLE', retryable: true }
  // FATAL (or PANIC) ends the session, whatever its sqlstate: idle_session_timeout (57P05)
  // crossing a statement on the network, a dropped database (57P04), the server's
  // idle-in-transaction timeout (25P03). The connection is gone, not the SQL wrong.
  if (
    sqlstate.startsWith('08') ||
    sqlstate === '57P01' ||
    sqlstate === '57P02' ||
    severity === 'FATAL' ||
    severity === 'PANIC'
  ) {
    return { code: 'DB_UNAVAILABLE', retryable: false }
  }
  return { code: 'DATABASE_ERROR', retryable: false }
}

/** Context that changes how an error reads. */
export interface ErrorContext {
  /** The gateway's own deadline passed (so a cancel is a timeout). */
  timedOut?: boolean
  /** Index of the failing statement in a batch. */
  statementIndex?: number
}

/** Maps any thrown value to a {@link SluiceError}. */
export function toSluiceError(error: unknown, context: ErrorContext = {}): SluiceError {
  const extra: SluiceErrorOptions =
    context.statementIndex === undefined ? {} : { statementIndex: context.statementIndex }
  if (isSluiceError(error)) {
    if (context.statementIndex === undefined || error.fields.statementIndex !== undefined)
      return error
    return new SluiceError(error.code, error.message, {
      ...error.fields,
      ...extra,
      retryable: error.retryable,
    })
  }
  if (isPostgresError(error)) {
    const { code, retryable } = context.timedOut
      ? { code: 'STATEMENT_TIMEOUT' as const, retryable: false }
      : codeForSqlstate(error.code, error.severity)
    const fields: SluiceErrorOptions = { ...extra, retryable }
    const source = error as unknown as Record<string, unknown>
    for (const field of DATABASE_ERROR_FIELDS) {
      const value = source[PG_FIELD_OF[field]]
      if (typeof value === 'string' && value !== '') fields[field] = value
    }
    const message =
      code === 'STATEMENT_TIMEOUT' ? 'canceling statement due to statement timeout' : error.message
    return new SluiceError(code, message, fields)
  }
  if (context.timedOut)
    return new SluiceError(
      'STATEMENT_TIMEOUT',
      'canceling statement due to statement timeout',
      extra,
    )
  // A socket failure mid-statement: the statement may have run, so not retryable.
  return new SluiceError('DB_UNAVAILABLE', 'the connection to the database was lost', {
    ...extra,
    retryable: false,
    cause: error,
  })
}
