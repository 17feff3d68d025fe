/**
 * The admin API, behind the admin token: the tenants and their pool statistics (PgBouncer's
 * SHOW POOLS), pause and resume of a tenant (PAUSE / RESUME), the config in force with
 * secrets redacted, and a config reload (RELOAD).
 */
import { Hono, type Context } from 'hono'
import { SluiceError } from '../../../src/errors.js'
import { ConfigError } from '../../config/load.js'
import { redactValue } from '../../config/redact.js'
import type { Config } from '../../config/schema.js'
import type { GatewayEnv } from '../env.js'
import type { PoolStats } from '../../pool/stats.js'
import { adminAuth } from '../middleware/admin-auth.js'
import type { ReloadReport, TenantSet } from '../../tenants/tenant-set.js'

/** What the admin API needs. */
export interface AdminDeps {
  tenants: TenantSet
  openTransactions: (tenant: string) => number
  /** Reads and validates the config again; throws {@link ConfigError}. Absent: nothing to reload. */
  reload?: () => Promise<ReloadReport>
}

/** One tenant, as `GET /admin/tenants` lists it. */
export interface TenantReport {
  name: string
  paused: boolean
  openTransactions: number
  /** The current pool's statistics, plus those of pools still draining after a reload. */
  pool: PoolStats
  drainingPools: number
}

// How long `pause` waits for in-flight work by default, as PgBouncer's PAUSE does.
const PAUSE_WAIT_MS = 10_000

function tenantReport(deps: AdminDeps, name: string): TenantReport {
  const tenant = deps.tenants.tenants.get(name)
  if (!tenant) throw new SluiceError('NOT_FOUND', `no tenant ${JSON.stringify(name)}`)
  return {
    name,
    paused: tenant.pool.paused,
    openTransactions: deps.openTransactions(name),
    pool: tenant.pool.stats(),
    drainingPools: deps.tenants.poolsOf(name).length - 1,
  }
}

function waitMs(c: Context): number {
  const raw = c.req.query('waitMs')
  if (raw === undefined) return PAUSE_WAIT_MS
  const value = Number(raw)
  if (!Number.isInteger(value) || value < 0 || value > 3_600_000)
    throw new SluiceError('BAD_REQUEST', 'waitMs must be an integer from 0 to 3600000')
  return value
}

/** The `/admin/*` routes; `adminToken` is read on each request. */
export function adminRoutes(
  deps: AdminDeps,
  adminToken: () => string | undefined,
): Hono<GatewayEnv> {
  const app = new Hono<GatewayEnv>()
  app.use('/admin/*', adminAuth(adminToken))
  app.get('/admin/tenants', function listTenants(c) {
    const names = [...deps.tenants.tenants.keys()].sort()
    return c.json({ tenants: names.map((name) => tenantReport(deps, name)) })
  })
  app.get('/admin/tenants/:name', function showTenant(c) {
    return c.json(tenantReport(deps, c.req.param('name')))
  })
  app.post('/admin/tenants/:name/pause', async function pauseTenant(c) {
    const name = c.req.param('name')
    tenantReport(deps, name)
    const wait = waitMs(c)
    const pools = deps.tenants.poolsOf(name)
    let timer: ReturnType<typeof setTimeout> | undefined
    const settled = await Promise.race([
      Promise.all(pools.map((pool) => pool.pause())).then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), wait))),
    ])
    clearTimeout(timer)
    // settled: every borrowed connection came back (open transactions may hold some).
    return c.json({ ...tenantReport(deps, name), settled })
  })
  app.post('/admin/tenants/:name/resume', function resumeTenant(c) {
    const name = c.req.param('name')
    tenantReport(deps, name)
    for (const pool of deps.tenants.poolsOf(name)) pool.resume()
    return c.json(tenantReport(deps, name))
  })
  app.get('/admin/config', function showConfig(c) {
    return c.json(redactValue([], deps.tenants.config) as Config)
  })
  app.post('/admin/reload', async function reload(c) {
    if (!deps.reload) {
      throw new SluiceError(
        'BAD_REQUEST',
        'nothing to reload: the gateway was started without a config file (--config or SLUICE_CONFIG)',
      )
    }
    try {
      return c.json(await deps.reload())
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
