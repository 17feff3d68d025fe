/**
 * The gateway's errors as a wire client sees them: an ErrorResponse with the SQLSTATE a
 * PostgreSQL driver already knows how to handle (drivers match on SQLSTATE, not on our
 * codes), and the Sluice code in the detail. FATAL ones end the session.
 */
import { isSluiceError, type ErrorCode } from '../../src/errors.js'
import type { ErrorFields } from './messages.js'

const SQLSTATE: Record<ErrorCode, { code: string; fatal: boolean }> = {
  BAD_REQUEST: { code: '08P01', fatal: true },
  DATABASE_ERROR: { code: 'XX000', fatal: false },
  UNAUTHORIZED: { code: '28P01', fatal: true },
  FORBIDDEN: { code: '42501', fatal: false },
  NOT_FOUND: { code: '08P01', fatal: true },
  TX_NOT_FOUND: { code: '08P01', fatal: true },
  CONFLICT: { code: '40001', fatal: false },
  PAYLOAD_TOO_LARGE: { code: '54000', fatal: true },
  RESULT_TOO_LARGE: { code: '54000', fatal: false },
  RATE_LIMITED: { code: '53300', fatal: false },
  POOL_QUEUE_FULL: { code: '53300', fatal: false },
  TX_LIMIT_REACHED: { code: '53400', fatal: false },
  INTERNAL: { code: 'XX000', fatal: true },
  POOL_TIMEOUT: { code: '53300', fatal: false },
  DB_UNAVAILABLE: { code: '08006', fatal: false },
  SHUTTING_DOWN: { code: '57P01', fatal: true },
  TENANT_PAUSED: { code: '57P03', fatal: false },
  STATEMENT_TIMEOUT: { code: '57014', fatal: false },
  CLIENT_CLOSED: { code: '08006', fatal: true },
}

/** An ErrorResponse's fields for whatever the gateway threw (never a stack trace). */
export function errorFieldsOf(error: unknown): ErrorFields {
  if (isSluiceError(error)) {
    const { code, fatal } = SQLSTATE[error.code]
    return {
      severity: fatal ? 'FATAL' : 'ERROR',
      code,
      message: error.message,
      detail: `Sluice error code ${error.code}${error.retryable ? ' (retryable)' : ''}`,
    }
  }
  return {
    severity: 'FATAL',
    code: 'XX000',
    message: 'internal error in the gateway (it is logged)',
  }
}
