/**
 * The one place errors become responses: the protocol's error body, its status, and a
 * Retry-After header where the code promises one. Unknown errors become INTERNAL with a
 * body that reveals nothing but the request id. Shared by the Hono app and the direct
 * `/v1/query` path (./direct-query.ts).
 */
import type { Context } from 'hono'
import { HTTPException } from 'hono/http-exception'
import { SluiceError, isSluiceError } from '../../src/errors.js'
import type { GatewayEnv } from './env.js'
import { requestSignal } from './node-request.js'

/** Reports an unexpected error (a bug) to the operator, with the request it broke. */
export type ReportBug = (error: unknown, requestId: string | undefined) => void

/**
 * The {@link SluiceError} an error response shows, whatever was thrown: a client that went
 * away (`aborted`) is CLIENT_CLOSED, anything unknown is a bug, reported and shown as a
 * bare INTERNAL.
 */
export function toResponseError(
  error: unknown,
  request: { aborted: boolean; requestId: string | undefined },
  reportBug: ReportBug,
): SluiceError {
  if (isSluiceError(error)) return error
  if (request.aborted) return new SluiceError('CLIENT_CLOSED', 'the client closed the request')
  if (error instanceof HTTPException && error.status === 413) {
    return new SluiceError('PAYLOAD_TOO_LARGE', 'the request body is over the limit')
  }
  reportBug(error, request.requestId)
  return new SluiceError(
    'INTERNAL',
    `internal error (request id ${request.requestId ?? 'unknown'})`,
  )
}

/**
 * {@link toResponseError} for a Hono context: also records the code for logs and metrics
 * and sets Retry-After where the code has one.
 */
export function responseError(
  error: unknown,
  c: Context<GatewayEnv>,
  reportBug: ReportBug,
): SluiceError {
  const request = { aborted: requestSignal(c).aborted, requestId: c.get('requestId') }
  const sluice = toResponseError(error, request, reportBug)
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
