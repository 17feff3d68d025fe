/** `GET /metrics`: the Prometheus text exposition, public or behind the admin token. */
import { Hono } from 'hono'
import type { Admin } from '../../admin/admin.js'
import type { Metrics } from '../../metrics/metrics.js'
import type { GatewayEnv } from '../env.js'
import { adminAuth } from '../middleware/admin-auth.js'

/** The `/metrics` route; `isPublic` is read on each scrape (a reload may change it). */
export function metricsRoute(
  metrics: Metrics,
  admin: Admin,
  isPublic: () => boolean,
): Hono<GatewayEnv> {
  const guard = adminAuth(admin)
  return new Hono<GatewayEnv>().get(
    '/metrics',
    async function requireToken(c, next) {
      if (isPublic()) return next()
      return guard(c, next)
    },
    async function metricsText(c) {
      const text = await metrics.render()
      return c.body(text, 200, { 'Content-Type': metrics.registry.contentType })
    },
  )
}
