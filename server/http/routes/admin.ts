/** The `/admin/*` routes over server/admin/admin.ts, behind the admin token. */
import { Hono, type Context } from 'hono'
import { SluiceError } from '../../../src/errors.js'
import { MAX_PAUSE_WAIT_MS, PAUSE_WAIT_MS, type Admin } from '../../admin/admin.js'
import { ConfigError } from '../../config/load.js'
import type { GatewayEnv } from '../env.js'
import { adminAuth } from '../middleware/admin-auth.js'

function waitMs(c: Context): number {
  const raw = c.req.query('waitMs')
  if (raw === undefined) return PAUSE_WAIT_MS
  const value = Number(raw)
  if (!Number.isInteger(value) || value < 0 || value > MAX_PAUSE_WAIT_MS)
    throw new SluiceError('BAD_REQUEST', `waitMs must be an integer from 0 to ${MAX_PAUSE_WAIT_MS}`)
  return value
}

/** The `/admin/*` routes. */
export function adminRoutes(admin: Admin): Hono<GatewayEnv> {
  const app = new Hono<GatewayEnv>()
  app.use('/admin/*', adminAuth(admin))
  app.get('/admin/tenants', function listTenants(c) {
    return c.json({ tenants: admin.tenants() })
  })
  app.get('/admin/tenants/:name', function showTenant(c) {
    return c.json(admin.tenant(c.req.param('name')))
  })
  app.post('/admin/tenants/:name/pause', async function pauseTenant(c) {
    const name = c.req.param('name')
    admin.tenant(name)
    return c.json(await admin.pause(name, waitMs(c)))
  })
  app.post('/admin/tenants/:name/resume', function resumeTenant(c) {
    return c.json(admin.resume(c.req.param('name')))
  })
  app.post('/admin/tenants/:name/cache/purge', async function purgeCache(c) {
    return c.json(await admin.purgeCache(c.req.param('name'), c.req.query('tag')))
  })
  app.get('/admin/config', function showConfig(c) {
    return c.json(admin.config())
  })
  app.post('/admin/reload', async function reload(c) {
    try {
      return c.json(await admin.reload())
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error
      const refused = new SluiceError(
        'BAD_REQUEST',
        `the config file is invalid, so the running config stays in force: ${error.problems.join('; ')}`,
      )
      c.set('errorCode', refused.code)
      return c.json({ ...refused.toBody(), problems: error.problems }, 400)
    }
  })
  return app
}
