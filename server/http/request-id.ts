/**
 * The request id of every answer (`X-Request-Id`): the caller's own when it is short and
 * plain, as hono/request-id keeps it, else a new UUID. One rule for both paths.
 */
import type { MiddlewareHandler } from 'hono'
import { REQUEST_ID_HEADER } from '../../src/protocol.js'
import type { GatewayEnv } from './env.js'
import { nodeBindings } from './node-request.js'
import { noteRequestId } from './send-watchdog.js'

const NOT_PLAIN = /[^\w\-=]/

/** The id for a request whose `X-Request-Id` header is `header`. */
export function requestIdOf(header: string | string[] | undefined): string {
  if (
    typeof header === 'string' &&
    header !== '' &&
    header.length <= 255 &&
    !NOT_PLAIN.test(header)
  )
    return header
  return crypto.randomUUID()
}

/** Sets `requestId` on the context and the `X-Request-Id` answer header. */
export function requestId(): MiddlewareHandler<GatewayEnv> {
  return async function requestId(c, next) {
    const id = requestIdOf(c.req.header(REQUEST_ID_HEADER))
    c.set('requestId', id)
    c.header(REQUEST_ID_HEADER, id)
    const { outgoing } = nodeBindings(c)
    if (outgoing) noteRequestId(outgoing, id)
    await next()
  }
}
