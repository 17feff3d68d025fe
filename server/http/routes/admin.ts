/**
 * The `/admin/*` routes over server/admin/admin.ts, behind the admin token, across every
 * worker of the node and every node of the cluster (server/cluster/cluster-admin.ts); a
 * peer's fanned-out request runs on its own node only.
 */
import { Hono, type Context } from 'hono'
import { SluiceError } from '../../../src/errors.js'
import { MAX_PAUSE_WAIT_MS, PAUSE_WAIT_MS } from '../../admin/admin.js'
import type { AdminScope, ClusterAdmin } from '../../cluster/cluster-admin.js'
import { ConfigError } from '../../config/load.js'
import type { GatewayEnv } from '../env.js'
import { adminAuth } from '../middleware/admin-auth.js'

function waitMs(c: Context): number {
  const raw = c.req.query('waitMs')
  if (raw === undefined) return PAUSE_WAIT_MS
  // Digits only: Number() would read '' as 0 (a pause that waits for nothing) and take
  // '1e3', '0x10' or ' 5' too.
  const value = /^[0-9]{1,10}$/.test(raw) ? Number(raw) : NaN
  if (!(value <= MAX_PAUSE_WAIT_MS))
    throw new SluiceError('BAD_REQUEST', `waitMs must be an integer from 0 to ${MAX_PAUSE_WAIT_MS}`)
  return value
}

// A peer fanning out an operator's action asks for its own node only.
function scopeOf(c: Context<GatewayEnv>): AdminScope {
  return c.get('hop')?.hop === 'peer' ? 'node' : 'cluster'
}

/** The `/admin/*` routes. */
export function adminRoutes(admin: ClusterAdmin): Hono<GatewayEnv> {
  const app = new Hono<GatewayEnv>()
  app.use('/admin/*', adminAuth(admin))
  app.get('/admin/tenants', async function listTenants(c) {
    return c.json(await admin.tenants(scopeOf(c)))
  })
  app.get('/admin/tenants/:name', async function showTenant(c) {
    return c.json(await admin.tenant(c.req.param('name'), scopeOf(c)))
  })
  app.post('/admin/tenants/:name/pause', async function pauseTenant(c) {
    return c.json(await admin.pause(c.req.param('name'), waitMs(c), scopeOf(c)))
  })
  app.post('/admin/tenants/:name/resume', async function resumeTenant(c) {
    return c.json(await admin.resume(c.req.param('name'), scopeOf(c)))
  })
  app.get('/admin/nodes', async function listNodes(c) {
    return c.json(await admin.nodes(scopeOf(c)))
  })
  app.post('/admin/tenants/:name/cache/purge', async function purgeCache(c) {
    return c.json(await admin.purgeCache(c.req.param('name'), c.req.query('tag')))
  })
  app.get('/admin/config', function showConfig(c) {
    return c.json(admin.config())
  })
  app.post('/admin/reload', async function reload(c) {
    try {
      return c.json(await admin.reload(scopeOf(c)))
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
