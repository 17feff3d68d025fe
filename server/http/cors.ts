/**
 * Browsers (CORS). A tenant lists the web origins whose pages may call it
 * (`tenants.<name>.cors.origins`, none by default). A preflight carries no token, so it is
 * answered, before authentication, for an origin that some tenant allows; the answer to the
 * real request, errors included, then carries `Access-Control-Allow-Origin` only when the
 * caller's own tenant allows the origin (before authentication: when some tenant does), so a
 * page can never read what its tenant did not open to it.
 */
import type { MiddlewareHandler } from 'hono'
import { SluiceError } from '../../src/errors.js'
import type { Tenant } from '../tenants/tenant.js'
import type { GatewayEnv } from './env.js'

/** Whether `tenant` lets pages from `origin` call it. */
export function tenantAllows(tenant: Tenant, origin: string): boolean {
  const { origins } = tenant.config.cors
  return origins.includes(origin) || origins.includes('*')
}

/** Whether any tenant lets pages from `origin` call it. */
export function someTenantAllows(tenants: ReadonlyMap<string, Tenant>, origin: string): boolean {
  for (const tenant of tenants.values()) if (tenantAllows(tenant, origin)) return true
  return false
}

// What a client's page may read of an answer besides the body.
const EXPOSED = 'X-Request-Id, Retry-After, Sluice-Cache'

/**
 * The CORS headers of an answer to `origin`: the allow headers when `tenant` (or, before
 * authentication, some tenant) allows it; `Vary: Origin` always, for caches in between.
 */
export function corsHeaders(
  origin: string | undefined,
  tenant: Tenant | undefined,
  tenants: ReadonlyMap<string, Tenant>,
): Record<string, string> {
  if (origin === undefined) return {}
  const allowed = tenant ? tenantAllows(tenant, origin) : someTenantAllows(tenants, origin)
  if (!allowed) return { Vary: 'Origin' }
  return {
    'Access-Control-Allow-Origin': origin,
    'Access-Control-Expose-Headers': EXPOSED,
    Vary: 'Origin',
  }
}

/** Answers preflights and adds the CORS headers to every answer of the routes it guards. */
export function cors(tenants: ReadonlyMap<string, Tenant>): MiddlewareHandler<GatewayEnv> {
  return async function cors(c, next) {
    const origin = c.req.header('Origin')
    if (origin === undefined) return next()
    if (c.req.method === 'OPTIONS') {
      if (!someTenantAllows(tenants, origin)) {
        throw new SluiceError(
          'FORBIDDEN',
          `pages from ${origin} may not call this gateway: list the origin in the tenant's cors.origins`,
        )
      }
      return c.body(null, 204, {
        'Access-Control-Allow-Origin': origin,
        'Access-Control-Allow-Methods': 'POST, GET, OPTIONS',
        'Access-Control-Allow-Headers':
          c.req.header('Access-Control-Request-Headers') ?? 'authorization, content-type',
        'Access-Control-Max-Age': '600',
        Vary: 'Origin',
      })
    }
    // A stream writes its head itself, so it asks for the headers (./stream-query.ts).
    c.set('corsHeaders', (tenant) => corsHeaders(origin, tenant, tenants))
    await next()
    const headers = corsHeaders(origin, c.get('tenant'), tenants)
    for (const [name, value] of Object.entries(headers)) c.header(name, value)
  }
}
