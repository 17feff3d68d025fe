/** `GET /metrics`: the Prometheus text exposition, public or behind the admin token. */
import { Hono } from 'hono'
import type { GatewayEnv } from '../env.js'
import { adminAuth } from '../middleware/admin-auth.js'
import type { Metrics } from '../../metrics/metrics.js'

/** Options of {@link metricsRoute}. */
export interface MetricsRouteOptions {
  /** Serve without a token? Read on each scrape (a reload may change it). */
  isPublic: () => boolean
  adminToken: () => string | undefined
}

/** The `/metrics` route. */
export function metricsRoute(metrics: Metrics, options: MetricsRouteOptions): Hono<GatewayEnv> {
  const guard = adminAuth(options.adminToken)
  return new Hono<GatewayEnv>().get(
    '/metrics',
    async function requireToken(c, next) {
      if (options.isPublic()) return next()
      return guard(c, next)
    },
    async function metricsText(c) {
      const text = await metrics.render()
      return c.body(text, 200, { 'Content-Type': metrics.registry.contentType })
    },
  )
}
