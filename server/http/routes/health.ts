/** `GET /healthz` (the process serves) and `GET /readyz` (every tenant's database answers). */
import { Hono } from 'hono'
import { SluiceError } from '../../../src/errors.js'
import { shuttingDown } from '../../errors.js'
import type { Readiness } from '../../tenants/readiness.js'
import type { GatewayEnv } from '../env.js'
import { errorHeaders } from '../errors.js'

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
        ? shuttingDown()
        : new SluiceError('DB_UNAVAILABLE', `database unavailable for tenant ${down.join(', ')}`, {
            retryable: true,
          })
      c.set('errorCode', error.code)
      return c.json({ ...error.toBody(), tenants: report.tenants }, 503, errorHeaders(error))
    })
}
