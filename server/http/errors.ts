/**
 * The one place errors become responses: the protocol's error body, its status, and a
 * Retry-After header where the code has one (src/errors.ts). Unknown errors become INTERNAL
 * with a body that reveals nothing but the request id. Shared by the Hono app and the
 * direct `/v1/query` path (./direct-query.ts).
 */
import type { Context } from 'hono'
import { RETRY_AFTER_SECONDS, SluiceError, isSluiceError } from '../../src/errors.js'
import { clientClosed, type ReportBug } from '../errors.js'
import type { GatewayEnv } from './env.js'
import { requestSignal } from './node-request.js'

/**
 * The {@link SluiceError} an error response shows, whatever was thrown: a client that went
 * away (`aborted`) is CLIENT_CLOSED whatever else happened after it left (a timeout, a
 * cancelled statement), and anything unknown is a bug, reported and shown as INTERNAL.
 */
export function toResponseError(
  error: unknown,
  request: { aborted: boolean; requestId: string | undefined },
  reportBug: ReportBug,
): SluiceError {
  if (request.aborted) return clientClosed()
  if (isSluiceError(error)) return error
  reportBug(error, request.requestId)
  return new SluiceError(
    'INTERNAL',
    `internal error (request id ${request.requestId ?? 'unknown'})`,
  )
}

/** The headers of an error answer beyond the content type: Retry-After where the code has one. */
export function errorHeaders(error: SluiceError): Record<string, string> {
  const seconds = error.retryAfter ?? RETRY_AFTER_SECONDS[error.code]
  return seconds === undefined ? {} : { 'Retry-After': String(seconds) }
}

/**
 * {@link toResponseError} for a Hono context: also records the code for logs and metrics
 * and sets the error's headers.
 */
export function responseError(
  error: unknown,
  c: Context<GatewayEnv>,
  reportBug: ReportBug,
): SluiceError {
  const request = { aborted: requestSignal(c).aborted, requestId: c.get('requestId') }
  const sluice = toResponseError(error, request, reportBug)
  c.set('errorCode', sluice.code)
  for (const [name, value] of Object.entries(errorHeaders(sluice))) c.header(name, value)
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
