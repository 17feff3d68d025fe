/** The request log middleware: the recorder of server/log/request-recorder.ts, for Hono. */
import type { Context, MiddlewareHandler } from 'hono'
import { matchedRoutes } from 'hono/route'
import type { RequestRecorder } from '../../log/request-recorder.js'
import type { GatewayEnv } from '../env.js'

/** The matched route's pattern (`/v1/transactions/:id/query`), or `unmatched`. */
export function routeOf(c: Context): string {
  const routes = matchedRoutes(c)
  for (let i = routes.length - 1; i >= 0; i--) {
    const route = routes[i]!
    if (route.method !== 'ALL') return route.path
  }
  return 'unmatched'
}

/** Records each request; mount it first, right after the request id. */
export function requestLog(recorder: RequestRecorder): MiddlewareHandler<GatewayEnv> {
  return async function requestLog(c, next) {
    const record = recorder.start(c.get('requestId'))
    c.set('statementScope', record.scope)
    try {
      await next()
    } finally {
      record.finish({
        method: c.req.method,
        route: routeOf(c),
        path: c.req.path,
        status: c.res.status,
        code: c.get('errorCode') ?? '',
        tenant: c.get('tenant')?.name ?? '',
      })
    }
  }
}
