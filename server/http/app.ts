/**
 * The HTTP app: middleware (request id, lifecycle, body limit, auth), the v1 routes and the
 * one error renderer. Building it has no side effects: tests call `app.request()` with no
 * socket, and `server/main.ts` is the only place that listens.
 */
import { Hono, type MiddlewareHandler } from 'hono'
import { requestId } from 'hono/request-id'
import type { TokenIndex } from '../tenants/tokens.js'
import { bodyLimit } from './middleware/body-limit.js'
import { authenticate } from './middleware/authenticate.js'
import { notFound, renderError, type ReportBug } from './errors.js'
import { serving } from './middleware/serving.js'
import type { GatewayEnv } from './env.js'
import type { Lifecycle } from '../lifecycle/lifecycle.js'
import { batchRoute } from './routes/batch.js'
import { healthRoutes, type Readiness } from './routes/health.js'
import { neonSqlRoute } from './routes/neon-sql.js'
import { queryRoute } from './routes/query.js'
import { transactionRoutes } from './routes/transactions.js'
import type { Tenant } from '../tenants/tenant.js'
import type { TransactionRegistry } from '../engine/transactions.js'

/** What the app needs from the gateway. */
export interface AppDeps {
  tokens: TokenIndex
  tenants: ReadonlyMap<string, Tenant>
  lifecycle: Lifecycle
  transactions: TransactionRegistry
  bodyLimitBytes: number
  readiness: () => Promise<Readiness>
  reportBug?: ReportBug
  /** Middleware run first on every request (request logs, metrics). */
  middleware?: MiddlewareHandler<GatewayEnv>[]
  /** Extra routes mounted before the v1 API (metrics, admin, compatibility). */
  extraRoutes?: (app: Hono<GatewayEnv>) => void
}

// Requests that continue an open transaction, which may still finish while draining.
const CONTINUES_TRANSACTION = /^\/v1\/transactions\/[^/]+\/(query|commit|rollback)$/

/** Builds the gateway's Hono app. */
export function createApp(deps: AppDeps): Hono<GatewayEnv> {
  const reportBug: ReportBug =
    deps.reportBug ?? ((error) => console.error('sluice: internal error', error))
  const app = new Hono<GatewayEnv>()
  app.use(requestId({ headerName: 'X-Request-Id' }))
  for (const middleware of deps.middleware ?? []) app.use(middleware)
  app.route('/', healthRoutes(deps.readiness))
  deps.extraRoutes?.(app)
  app.use(
    '/v1/*',
    serving(deps.lifecycle, (c) => CONTINUES_TRANSACTION.test(c.req.path)),
  )
  app.use('/v1/*', bodyLimit(deps.bodyLimitBytes))
  app.use('/v1/*', authenticate(deps))
  app.route('/', queryRoute())
  app.route('/', batchRoute())
  app.route('/', transactionRoutes(deps.transactions))
  app.route('/', neonSqlRoute({ ...deps, reportBug }))
  app.notFound(notFound)
  app.onError((error, c) => renderError(error, c, reportBug))
  return app
}
