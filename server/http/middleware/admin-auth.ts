/**
 * The admin token check: `Authorization: Bearer <server.adminToken>`, compared in constant
 * time. Without a configured token the admin API answers FORBIDDEN, saying how to turn it on.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { MiddlewareHandler } from 'hono'
import { SluiceError } from '../../../src/errors.js'
import type { GatewayEnv } from '../env.js'

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest()
}

/** True when the `Authorization` header carries `token`. */
export function isAdmin(header: string | undefined, token: string): boolean {
  const match = header === undefined ? null : /^Bearer[ ]+(\S+)\s*$/i.exec(header)
  // Comparing digests keeps the comparison constant-time whatever the lengths.
  return match !== null && timingSafeEqual(digest(match[1]!), digest(token))
}

/** Requires the admin token, read on each request (a reload may change it). */
export function adminAuth(token: () => string | undefined): MiddlewareHandler<GatewayEnv> {
  return async function adminAuth(c, next) {
    const expected = token()
    if (expected === undefined) {
      throw new SluiceError(
        'FORBIDDEN',
        'the admin API is off: set server.adminToken in the config file (or SLUICE_ADMIN_TOKEN)',
      )
    }
    if (!isAdmin(c.req.header('Authorization'), expected)) {
      throw new SluiceError(
        'UNAUTHORIZED',
        'send the admin token as "Authorization: Bearer <token>"',
      )
    }
    await next()
  }
}
