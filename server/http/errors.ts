/**
 * The one place errors become responses: the protocol's error body, its status, and a
 * Retry-After header where the code promises one. Unknown errors become INTERNAL with a
 * body that reveals nothing but the request id.
 */
import type { Context } from 'hono'
import { HTTPException } from 'hono/http-exception'
import { SluiceError, isSluiceError } from '../../src/errors.js'
import type { GatewayEnv } from './env.js'
import { requestSignal } from './node-request.js'

/** Reports an unexpected error (a bug) to the operator. */
export type ReportBug = (error: unknown, c: Context<GatewayEnv>) => void

/**
 * The {@link SluiceError} an error response shows, whatever was thrown: a client that went
 * away is CLIENT_CLOSED, anything unknown is a bug, reported and shown as a bare INTERNAL.
 * Records the code for logs and metrics and sets Retry-After where the code has one.
 */
export function responseError(
  error: unknown,
  c: Context<GatewayEnv>,
  reportBug: ReportBug,
): SluiceError {
  let sluice: SluiceError
  if (isSluiceError(error)) sluice = error
  else if (requestSignal(c).aborted)
    sluice = new SluiceError('CLIENT_CLOSED', 'the client closed the request')
  else if (error instanceof HTTPException && error.status === 413) {
    sluice = new SluiceError('PAYLOAD_TOO_LARGE', 'the request body is over the limit')
  } else {
    reportBug(error, c)
    sluice = new SluiceError(
      'INTERNAL',
      `internal error (request id ${c.get('requestId') ?? 'unknown'})`,
    )
  }
  c.set('errorCode', sluice.code)
  if (sluice.retryAfter !== undefined) c.header('Retry-After', String(sluice.retryAfter))
  return sluice
}

/** Renders `error` as a protocol error response. */
export function renderError(
  error: unknown,
  c: Context<GatewayEnv>,
  reportBug: ReportBug,
): Response {
  const sluice = responseError(error, c, reportBug)
  return c.json(sluice.toBody(), sluice.status as 400)
}

/** The NOT_FOUND response for unknown routes. */
export function notFound(c: Context<GatewayEnv>): Response {
  const error = new SluiceError('NOT_FOUND', `no route ${c.req.method} ${c.req.path}`)
  c.set('errorCode', error.code)
  return c.json(error.toBody(), 404)
}
