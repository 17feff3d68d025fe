/**
 * What an operator steers, as PgBouncer's console does: the tenants and their pool
 * statistics (SHOW POOLS), pause and resume of a tenant (PAUSE / RESUME), the config in
 * force with secrets redacted, and a config reload (RELOAD). Served over HTTP by
 * server/http/routes/admin.ts and on SIGHUP by the CLI.
 */
import { SluiceError } from '../../src/errors.js'
import { CACHE_TAG_PATTERN } from '../../src/protocol.js'
import type { CacheStats } from '../cache/tenant-cache.js'
import { ConfigError } from '../config/load.js'
import { redactValue } from '../config/redact.js'
import type { Config } from '../config/schema.js'
import type { Logger } from '../log/logger.js'
import type { Metrics } from '../metrics/metrics.js'
import type { PoolStats } from '../pool/stats.js'
import type { ReloadReport, TenantSet } from '../tenants/tenant-set.js'
import { bearerToken, sameToken } from '../tenants/tokens.js'

/** What the admin side needs from the gateway. */
export interface AdminDeps {
  tenants: TenantSet
  openTransactions: (tenant: string) => number
  logger: Logger
  metrics: Metrics
  /** Reads and validates the config file again; absent when there is none. */
  loadConfig?: (() => Promise<Config>) | undefined
  /** The logger follows a reloaded config's level (not a caller's silent default). */
  followLogLevel?: boolean
}

/** One tenant, as `GET /admin/tenants` lists it. */
export interface TenantReport {
  name: string
  paused: boolean
  openTransactions: number
  /** The current pool's statistics, plus those of pools still draining after a reload. */
  pool: PoolStats
  drainingPools: number
  /** The query cache's counters in this process, when the tenant has one. */
  cache?: CacheStats
}

/** What a cache purge did. */
export interface PurgeReport {
  tenant: string
  /** The tag purged, or undefined for the whole cache. */
  tag?: string
  /** Entries dropped in this process (every other process drops its own). */
  purged: number
}

/** The result of a pause: the tenant, and whether every borrowed connection came back. */
export interface PauseReport extends TenantReport {
  settled: boolean
}

/** The admin operations of one gateway. */
export interface Admin {
  /** The admin token in force (a reload may change it); `undefined`: the admin API is off. */
  token(): string | undefined
  /** True when an `Authorization` header value carries the admin token. */
  isAdmin(authorization: string | undefined): boolean
  tenants(): TenantReport[]
  tenant(name: string): TenantReport
  /** Pauses a tenant, waiting up to `waitMs` for its borrowed connections to come back. */
  pause(name: string, waitMs: number): Promise<PauseReport>
  resume(name: string): TenantReport
  /**
   * Empties a tenant's query cache, or drops the entries tagged `tag`, in every gateway
   * process on its database; resolves once each applied it.
   */
  purgeCache(name: string, tag?: string): Promise<PurgeReport>
  /** The config in force, secrets redacted. */
  config(): Config
  /**
   * Reads the config file again and applies it. An invalid file throws {@link ConfigError}
   * and changes nothing; without a config file, throws BAD_REQUEST.
   */
  reload(): Promise<ReloadReport>
  /** Applies an already validated config. */
  apply(next: Config): Promise<ReloadReport>
}

/** How long a pause waits for in-flight work by default, as PgBouncer's PAUSE does. */
export const PAUSE_WAIT_MS = 10_000
/** The longest wait a pause may ask for. */
export const MAX_PAUSE_WAIT_MS = 3_600_000

/** Builds the admin operations. */
export function createAdmin(deps: AdminDeps): Admin {
  const { tenants: set, logger, metrics } = deps
  const report = (name: string): TenantReport => {
    const tenant = set.tenants.get(name)
    if (!tenant) throw new SluiceError('NOT_FOUND', `no tenant ${JSON.stringify(name)}`)
    return {
      name,
      paused: tenant.pool.paused,
      openTransactions: deps.openTransactions(name),
      pool: tenant.pool.stats(),
      drainingPools: set.poolsOf(name).length - 1,
      ...(tenant.cache ? { cache: tenant.cache.stats() } : {}),
    }
  }
  const apply = async (next: Config): Promise<ReloadReport> => {
    const result = await set.reload(next)
    if (deps.followLogLevel) logger.level = next.server.log.level
    metrics.reload('ok')
    return result
  }
  return {
    token: () => set.config.server.adminToken,
    isAdmin(authorization) {
      const expected = set.config.server.adminToken
      const given = bearerToken(authorization)
      return expected !== undefined && given !== undefined && sameToken(given, expected)
    },
    tenants: () => [...set.tenants.keys()].sort().map(report),
    tenant: report,
    async pause(name, waitMs) {
      report(name)
      const pools = set.poolsOf(name)
      let timer: ReturnType<typeof setTimeout> | undefined
      const settled = await Promise.race([
        Promise.all(pools.map((pool) => pool.pause())).then(() => true),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), waitMs))),
      ])
      clearTimeout(timer)
      // settled: every borrowed connection came back (open transactions may hold some). A
      // resume also ends the wait, with nothing drained: that is no settled pause.
      const after = report(name)
      return { ...after, settled: settled && after.paused }
    },
    resume(name) {
      report(name)
      for (const pool of set.poolsOf(name)) pool.resume()
      return report(name)
    },
    async purgeCache(name, tag) {
      report(name)
      const cache = set.tenants.get(name)?.cache
      if (!cache)
        throw new SluiceError('BAD_REQUEST', `tenant ${name} has no cache (cache.enabled is false)`)
      if (tag !== undefined && !CACHE_TAG_PATTERN.test(tag))
        throw new SluiceError('BAD_REQUEST', 'a tag is 1 to 64 characters of A-Z a-z 0-9 _ . : / -')
      const purged = await cache.purge(tag)
      logger.info({ tenant: name, tag, purged }, 'cache purged by the operator')
      return { tenant: name, ...(tag === undefined ? {} : { tag }), purged }
    },
    config: () => redactValue([], set.config) as Config,
    async reload() {
      if (!deps.loadConfig) {
        throw new SluiceError(
          'BAD_REQUEST',
          'nothing to reload: the gateway was started without a config file (--config or SLUICE_CONFIG)',
        )
      }
      let next: Config
      try {
        next = await deps.loadConfig()
      } catch (error) {
        if (error instanceof ConfigError) {
          metrics.reload('invalid')
          logger.warn(
            { problems: error.problems },
            'config reload refused: the old config keeps serving',
          )
        }
        throw error
      }
      return apply(next)
    },
    apply,
  }
}
