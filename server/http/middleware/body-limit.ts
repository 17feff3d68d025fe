/**
 * The request body limit. Hono's bodyLimit asks `c.req.raw.body` first, which makes
 * @hono/node-server build a full web Request for every request; a declared Content-Length
 * is checked here from Node's headers instead, and only chunked bodies go through Hono's
 * streaming check.
 */
import type { MiddlewareHandler } from 'hono'
import { bodyLimit as honoBodyLimit } from 'hono/body-limit'
import { SluiceError } from '../../../src/errors.js'
import type { GatewayEnv } from '../env.js'
import { declaredBodyTooLarge } from '../node-request.js'

/** The PAYLOAD_TOO_LARGE error for a body over `maxSize` bytes. */
export function payloadTooLarge(maxSize: number): SluiceError {
  return new SluiceError('PAYLOAD_TOO_LARGE', `the request body is over ${maxSize} bytes`)
}

/** Refuses bodies over `maxSize` bytes with PAYLOAD_TOO_LARGE. */
export function bodyLimit(maxSize: number): MiddlewareHandler<GatewayEnv> {
  const onError = (): never => {
    throw payloadTooLarge(maxSize)
  }
  const streaming = honoBodyLimit({ maxSize, onError })
  return async function bodyLimit(c, next) {
    const tooLarge = declaredBodyTooLarge(c, maxSize)
    if (tooLarge === undefined) return streaming(c, next)
    if (tooLarge) onError()
    await next()
  }
}
