/**
 * The request body limit. Hono's bodyLimit asks `c.req.raw.body` first, which makes
 * @hono/node-server build a full web Request for every request; a declared Content-Length
 * is checked here from Node's headers instead, and only chunked bodies go through Hono's
 * streaming check.
 */
import type { MiddlewareHandler } from 'hono'
import { bodyLimit as honoBodyLimit } from 'hono/body-limit'
import type { GatewayEnv } from './env.js'
import { declaredBodyTooLarge } from './node-request.js'

/** Options of {@link bodyLimit}. */
export interface BodyLimitOptions {
  maxSize: number
  /** Throws the error response (PAYLOAD_TOO_LARGE). */
  onError: () => never
}

/** Refuses bodies over `maxSize` bytes with `onError`. */
export function bodyLimit(options: BodyLimitOptions): MiddlewareHandler<GatewayEnv> {
  const streaming = honoBodyLimit({ maxSize: options.maxSize, onError: options.onError })
  return async function bodyLimit(c, next) {
    const tooLarge = declaredBodyTooLarge(c, options.maxSize)
    if (tooLarge === undefined) return streaming(c, next)
    if (tooLarge) options.onError()
    await next()
  }
}
