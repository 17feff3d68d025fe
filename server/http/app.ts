/**
 * The HTTP app: the request id and request log, the health, metrics and admin routes, then
 * the v1 API behind admission (server/tenants/admission.ts) and Neon's `/sql` behind the
 * same admission with its own credentials and error shape, and the one error renderer.
 * Building it has no side effects: tests call `app.request()` with no socket.
 */
import { Hono } from 'hono'
import { bearerToken } from '../tenants/tokens.js'
import type { HttpDeps } from './deps.js'
import type { GatewayEnv } from './env.js'
import { cors } from './cors.js'
import { notFound, renderError } from './errors.js'
import { admission } from './middleware/admission.js'
import { hopCheck } from './middleware/hop.js'
import { requestLog } from './middleware/request-log.js'
import { requestId } from './request-id.js'
import { adminRoutes } from './routes/admin.js'
import { batchRoute } from './routes/batch.js'
import { healthRoutes } from './routes/health.js'
import { metricsRoute } from './routes/metrics.js'
import { neonSqlRoute } from './routes/neon-sql.js'
import { peerRoute } from './routes/peer.js'
import { queryRoute } from './routes/query.js'
import { transactionRoutes } from './routes/transactions.js'

// Requests that continue an open transaction, which may still finish while draining.
const CONTINUES_TRANSACTION = /^\/v1\/transactions\/[^/]+\/(query|commit|rollback)$/

/** Builds the gateway's Hono app. */
export function createApp(deps: HttpDeps): Hono<GatewayEnv> {
  const app = new Hono<GatewayEnv>()
  app.use(requestId())
  const draining = () => deps.lifecycle.draining
  app.use(async function closeWhileDraining(c, next) {
    // Streams write their headers themselves, with their first row: they ask then.
    c.set('draining', draining)
    await next()
    // Draining: the client reconnects (elsewhere) for its next request.
    if (deps.lifecycle.draining) c.header('Connection', 'close')
  })
  app.use(requestLog(deps.recorder))
  // Requests from the node's other workers and from peer nodes (server/cluster/), on any
  // route: one whose credentials do not check out is refused, never served as a client's.
  app.use(hopCheck(deps.cluster, deps.bodyLimitBytes))
  app.route('/', healthRoutes(deps.readiness))
  app.route('/', metricsRoute(deps.metrics, deps.admin, deps.publicMetrics))
  app.route('/', adminRoutes(deps.clusterAdmin))
  app.route('/', peerRoute(deps.cluster, deps.lifecycle))
  deps.extraRoutes?.(app)
  // Before admission: a preflight carries no token.
  app.use('/v1/*', cors(deps.tenants))
  app.use('/sql', cors(deps.tenants))
  app.use(
    '/v1/*',
    admission(deps, {
      credentials: (c) => ({ token: bearerToken(c.req.header('Authorization')) }),
      continuesTransaction: (c) => CONTINUES_TRANSACTION.test(c.req.path),
    }),
  )
  app.route('/', queryRoute(deps.reportBug))
  app.route('/', batchRoute())
  app.route('/', transactionRoutes(deps.transactions, deps.reportBug))
  app.route('/', neonSqlRoute(deps))
  app.notFound(notFound)
  app.onError((error, c) => renderError(error, c, deps.reportBug))
  return app
}
