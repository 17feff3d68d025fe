/**
 * The gateway's own errors, built in one place so each reads the same wherever it is
 * thrown. PostgreSQL's errors are mapped in ./engine/db-error.ts; codes, statuses and
 * `Retry-After` come from the protocol's table in src/errors.ts.
 */
import { SluiceError } from '../src/errors.js'

/** SHUTTING_DOWN: the gateway drains; the work never started, so a retry elsewhere is safe. */
export function shuttingDown(): SluiceError {
  return new SluiceError(
    'SHUTTING_DOWN',
    'the gateway is shutting down: retry on another instance',
    { retryable: true },
  )
}

/** CLIENT_CLOSED: the client went away before its answer (seen in logs and metrics only). */
export function clientClosed(): SluiceError {
  return new SluiceError('CLIENT_CLOSED', 'the client closed the request')
}

/** PAYLOAD_TOO_LARGE: a request body over `maxBytes`. */
export function payloadTooLarge(maxBytes: number): SluiceError {
  return new SluiceError('PAYLOAD_TOO_LARGE', `the request body is over ${maxBytes} bytes`)
}

/** UNAUTHORIZED, with what the caller should send instead. */
export function unauthorized(
  message = 'send the tenant token as "Authorization: Bearer <token>"',
): SluiceError {
  return new SluiceError('UNAUTHORIZED', message)
}

/** DB_UNAVAILABLE when no connection could be opened: nothing ran, so retrying is safe. */
export function databaseUnreachable(cause: unknown): SluiceError {
  return new SluiceError('DB_UNAVAILABLE', 'the database cannot be reached', {
    retryable: true,
    cause,
  })
}

/** The default bug reporter of an in-process gateway: stderr. The CLI logs instead. */
export function reportToStderr(error: unknown, requestId: string | undefined): void {
  console.error(`sluice: internal error (request ${requestId ?? 'unknown'})`, error)
}

/** Reports an unexpected error (a bug) to the operator, with the request it broke. */
export type ReportBug = (error: unknown, requestId: string | undefined) => void
