/**
 * Errors as Neon sends them: a JSON body with `message`, `code` (a SQLSTATE) and the
 * PostgreSQL fields, on status 400 for everything the statement or the caller got wrong,
 * which `@neondatabase/serverless` turns into a `NeonDbError` carrying those fields.
 * Oversized requests answer 413 and oversized results 507, as Neon's proxy does; capacity
 * and availability errors keep their real status (429/503/500) and `Retry-After`, so
 * retries and load balancers still see them. `sluiceCode` names Sluice's own code.
 */
import type { Context } from 'hono'
import { DATABASE_ERROR_FIELDS, type ErrorCode, type SluiceError } from '../../../src/errors.js'
import type { ReportBug } from '../../errors.js'
import { responseError } from '../errors.js'
import type { GatewayEnv } from '../env.js'
import type { NeonErrorBody } from './protocol.js'

interface NeonStatus {
  status: number
  /** The SQLSTATE for errors that PostgreSQL did not raise itself. */
  sqlstate: string
}

const NEON_STATUS: Partial<Record<ErrorCode, NeonStatus>> = {
  BAD_REQUEST: { status: 400, sqlstate: '08P01' }, // protocol_violation
  DATABASE_ERROR: { status: 400, sqlstate: 'XX000' },
  UNAUTHORIZED: { status: 400, sqlstate: '28P01' }, // invalid_password, as Neon answers
  FORBIDDEN: { status: 400, sqlstate: '42501' }, // insufficient_privilege
  CONFLICT: { status: 400, sqlstate: '40001' }, // serialization_failure
  STATEMENT_TIMEOUT: { status: 400, sqlstate: '57014' }, // query_canceled
  PAYLOAD_TOO_LARGE: { status: 413, sqlstate: '54000' }, // program_limit_exceeded
  RESULT_TOO_LARGE: { status: 507, sqlstate: '54000' },
  RATE_LIMITED: { status: 429, sqlstate: '53300' }, // too_many_connections
  POOL_QUEUE_FULL: { status: 429, sqlstate: '53300' },
  TX_LIMIT_REACHED: { status: 429, sqlstate: '53300' },
  POOL_TIMEOUT: { status: 503, sqlstate: '53300' },
  DB_UNAVAILABLE: { status: 503, sqlstate: '08006' }, // connection_failure
  SHUTTING_DOWN: { status: 503, sqlstate: '57P01' }, // admin_shutdown
  TENANT_PAUSED: { status: 503, sqlstate: '57P03' }, // cannot_connect_now
  INTERNAL: { status: 500, sqlstate: 'XX000' }, // internal_error
}

/** The status and body of `error` on `/sql`. */
export function neonError(error: SluiceError): { status: number; body: NeonErrorBody } {
  const mapped = NEON_STATUS[error.code] ?? { status: error.status, sqlstate: 'XX000' }
  const { sqlstate, statementIndex: _index, ...fields } = error.fields
  const body: NeonErrorBody = {
    message: error.message,
    code: sqlstate ?? mapped.sqlstate,
    sluiceCode: error.code,
  }
  for (const field of DATABASE_ERROR_FIELDS) {
    if (field === 'sqlstate') continue
    const value = fields[field]
    if (value !== undefined) body[field] = value
  }
  return { status: mapped.status, body }
}

/** Renders any error thrown while serving `/sql` in Neon's shape. */
export function renderNeonError(
  error: unknown,
  c: Context<GatewayEnv>,
  reportBug: ReportBug,
): Response {
  const sluice = responseError(error, c, reportBug)
  const { status, body } = neonError(sluice)
  return c.json(body, status as 400)
}
