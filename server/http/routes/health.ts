/** `GET /healthz` (the process serves) and `GET /readyz` (every tenant's database answers). */
import { Hono } from 'hono'
import { SluiceError } from '../../../src/errors.js'
import type { GatewayEnv } from '../env.js'

/** What `/readyz` reports: each tenant's state, never its credentials. */
export interface Readiness {
  ready: boolean
  draining: boolean
  tenants: Record<string, 'ok' | 'unavailable'>
}

/** The health routes. */
export function healthRoutes(readiness: () => Promise<Readiness>): Hono<GatewayEnv> {
  return new Hono<GatewayEnv>()
    .get('/healthz', function healthz(c) {
      return c.json({ status: 'ok' })
    })
    .get('/readyz', async function readyz(c) {
      const report = await readiness()
      if (report.ready) return c.json({ status: 'ready', tenants: report.tenants })
      const down = Object.entries(report.tenants)
        .filter(([, state]) => state !== 'ok')
        .map(([name]) => name)
      const error = report.draining
        ? new SluiceError('SHUTTING_DOWN', 'the gateway is shutting down', {
            retryable: true,
            retryAfter: 1,
          })
        : new SluiceError('DB_UNAVAILABLE', `database unavailable for tenant ${down.join(', ')}`, {
            retryable: true,
            retryAfter: 1,
          })
      c.set('errorCode', error.code)
      c.header('Retry-After', '1')
      return c.json({ ...error.toBody(), tenants: report.tenants }, 503)
    })
}
