/** Authentication middleware: a request's token picks its principal and tenant. */
import type { Context, MiddlewareHandler } from 'hono'
import { SluiceError } from '../../../src/errors.js'
import type { Principal, TokenIndex } from '../../tenants/tokens.js'
import type { Tenant } from '../../tenants/tenant.js'
import type { GatewayEnv } from '../env.js'

/** What authentication needs from the gateway. */
export interface AuthenticateDeps {
  tokens: TokenIndex
  tenants: ReadonlyMap<string, Tenant>
}

/** The tenant `principal` belongs to, or UNAUTHORIZED when a reload removed it. */
export function tenantOf(deps: AuthenticateDeps, principal: Principal): Tenant {
  const tenant = deps.tenants.get(principal.tenant)
  if (!tenant) throw new SluiceError('UNAUTHORIZED', 'unknown token')
  return tenant
}

/** How a route finds the token: the `Authorization: Bearer` header by default. */
export type Identify = (c: Context<GatewayEnv>, tokens: TokenIndex) => Principal

const bearer: Identify = (c, tokens) => tokens.authenticate(c.req.header('Authorization'))

/** Sets `principal` and `tenant` on the context, or throws UNAUTHORIZED. */
export function authenticate(
  deps: AuthenticateDeps,
  identify: Identify = bearer,
): MiddlewareHandler<GatewayEnv> {
  return async function authenticate(c, next) {
    const principal = identify(c, deps.tokens)
    const tenant = tenantOf(deps, principal)
    c.set('principal', principal)
    c.set('tenant', tenant)
    await next()
  }
}
