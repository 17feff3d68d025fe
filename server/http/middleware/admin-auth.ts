/**
 * The admin token check: `Authorization: Bearer <server.adminToken>`, compared in constant
 * time. Without a configured token the admin API answers FORBIDDEN, saying how to turn it on.
 * A peer node fanning out an operator's action (which it checked) passes with its own
 * credentials instead (./hop.ts).
 */
import type { MiddlewareHandler } from 'hono'
import { SluiceError } from '../../../src/errors.js'
import type { Admin } from '../../admin/admin.js'
import { unauthorized } from '../../errors.js'
import type { GatewayEnv } from '../env.js'

/** Requires the admin token, read on each request (a reload may change it). */
export function adminAuth(admin: Pick<Admin, 'token' | 'isAdmin'>): MiddlewareHandler<GatewayEnv> {
  return async function adminAuth(c, next) {
    if (admin.token() === undefined) {
      throw new SluiceError(
        'FORBIDDEN',
        'the admin API is off: set server.adminToken in the config file (or SLUICE_ADMIN_TOKEN)',
      )
    }
    if (c.get('hop')?.hop === 'peer') return next()
    if (!admin.isAdmin(c.req.header('Authorization')))
      throw unauthorized('send the admin token as "Authorization: Bearer <token>"')
    await next()
  }
}
