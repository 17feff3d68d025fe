/**
 * The gateway's live tenants and token index, which a config reload changes without
 * dropping in-flight work: added tenants start (their `min` connections open) before any
 * token reaches them; removed tenants stop taking requests and drain; a tenant whose
 * connections would open differently gets a new pool, and the old one drains;
 * a tenant whose other limits changed keeps its pool. Draining means: the requests that
 * were running at the swap finish, the pool's borrowed connections (open transactions
 * included) come back, then the pool closes.
 */
import type { Config, TenantConfig } from '../config/schema.js'
import { shuttingDown } from '../errors.js'
import type { InFlight } from '../lifecycle/in-flight.js'
import type { Logger } from '../log/logger.js'
import type { Metrics } from '../metrics/metrics.js'
import type { Pool } from '../pool/pool.js'
import { closeTenant, startTenant, type Tenant } from './tenant.js'
import { TokenIndex, type Principal } from './tokens.js'

/** What a reload did, by tenant name. */
export interface ReloadReport {
  added: string[]
  removed: string[]
  /** New pool; the old one drains. */
  replaced: string[]
  /** Same pool, new limits or tokens. */
  updated: string[]
  unchanged: string[]
  /** Settings that only take effect after a restart. */
  restartNeeded: string[]
}

/** Options of {@link TenantSet}. */
export interface TenantSetOptions {
  /** Builds a tenant and its (not yet started) pool. */
  makeTenant: (name: string, config: TenantConfig) => Tenant
  /** The admitted requests: a replaced pool waits for those running at the swap. */
  requests: InFlight
  logger: Logger
  metrics?: Metrics
}

// Server keys read once, when the listeners (or the node's workers and peers) start.
const RESTART_KEYS = [
  'host',
  'port',
  'pgPort',
  'pgTls',
  'bodyLimitBytes',
  'sendTimeoutMs',
  'headersTimeoutMs',
  'workers',
  'cluster',
  'cacheSecret',
] as const

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

/**
 * A token index whose contents a reload swaps at once. Callers keep this one object (the
 * app and every route that spread its deps hold it), so it delegates to the current index.
 */
export class LiveTokenIndex extends TokenIndex {
  current: TokenIndex

  constructor(current: TokenIndex) {
    super()
    this.current = current
  }

  override add(tenant: string, tokens: Parameters<TokenIndex['add']>[1]): void {
    this.current.add(tenant, tokens)
  }

  override lookup(token: string): Principal | undefined {
    return this.current.lookup(token)
  }
}

function indexTokens(config: Config): TokenIndex {
  const tokens = new TokenIndex()
  for (const [name, tenant] of Object.entries(config.tenants)) tokens.add(name, tenant.tokens)
  return tokens
}

/**
 * Whether `next` needs a new pool: its connections would open differently. Besides the
 * connection, pool, session and cache, a connection starts with `statement_timeout` and
 * `idle_in_transaction_session_timeout` from the limits (server/pool/pg-config.ts), and is
 * refused for a privileged role unless `allowPrivilegedRole`: kept, the pool would go on
 * with the old values.
 */
function needsNewPool(old: TenantConfig, next: TenantConfig): boolean {
  return (
    !same(old.connection, next.connection) ||
    !same(old.pool, next.pool) ||
    !same(old.session, next.session) ||
    !same(old.cache, next.cache) ||
    old.allowPrivilegedRole !== next.allowPrivilegedRole ||
    old.statementTimeoutMs !== next.statementTimeoutMs ||
    old.transactions.maxIdleTimeoutMs !== next.transactions.maxIdleTimeoutMs
  )
}

/** The longest a request or transaction of `config` may legitimately keep a connection. */
function drainLimitMs(config: TenantConfig): number {
  return config.transactions.maxTimeoutMs + config.statementTimeoutMs + config.pool.acquireTimeoutMs
}

/** The live tenants, their tokens and the pools still draining after reloads. */
export class TenantSet {
  readonly tenants = new Map<string, Tenant>()
  /** The token index in force (one object for the gateway's life). */
  readonly tokens: LiveTokenIndex
  private current: Config
  private readonly options: TenantSetOptions
  /** Replaced or removed pools still draining, by tenant name. */
  private readonly draining = new Map<Pool, { name: string; done: Promise<void>; tenant: Tenant }>()
  private queue: Promise<unknown> = Promise.resolve()
  private closed = false

  constructor(config: Config, options: TenantSetOptions) {
    this.options = options
    this.current = config
    for (const [name, tenantConfig] of Object.entries(config.tenants)) {
      this.add(options.makeTenant(name, tenantConfig))
    }
    this.tokens = new LiveTokenIndex(indexTokens(config))
  }

  /** The config in force. */
  get config(): Config {
    return this.current
  }

  /** The pools of `name`: the current one last, draining ones first. */
  poolsOf(name: string): Pool[] {
    const pools = [...this.draining].filter(([, d]) => d.name === name).map(([pool]) => pool)
    const tenant = this.tenants.get(name)
    return tenant ? [...pools, tenant.pool] : pools
  }

  /** Applies a validated config; reloads run one at a time. */
  reload(next: Config): Promise<ReloadReport> {
    const run = this.queue.then(() => this.apply(next))
    this.queue = run.catch(() => {})
    return run
  }

  /** The gateway stops: closes the pools still draining now (`destroy` cancels their work). */
  async close(destroy: boolean): Promise<void> {
    this.closed = true
    await Promise.all([...this.draining.values()].map(({ tenant }) => closeTenant(tenant, destroy)))
  }

  private add(tenant: Tenant): void {
    this.tenants.set(tenant.name, tenant)
    this.options.metrics?.pools.track(tenant.name, tenant.pool)
  }

  private async apply(next: Config): Promise<ReloadReport> {
    if (this.closed) throw shuttingDown()
    const { logger } = this.options
    const report: ReloadReport = {
      added: [],
      removed: [],
      replaced: [],
      updated: [],
      unchanged: [],
      restartNeeded: RESTART_KEYS.filter(
        (key) => !same(next.server[key], this.current.server[key]),
      ).map((key) => `server.${key}`),
    }
    // Build and warm every new pool before any request can reach it.
    const fresh = new Map<string, Tenant>()
    const swaps = new Map<string, Tenant>()
    for (const [name, config] of Object.entries(next.tenants)) {
      const old = this.tenants.get(name)
      if (!old) {
        fresh.set(name, this.options.makeTenant(name, config))
        report.added.push(name)
      } else if (needsNewPool(old.config, config)) {
        fresh.set(name, this.options.makeTenant(name, config))
        report.replaced.push(name)
      } else if (!same(old.config, config)) {
        swaps.set(name, { name, config, pool: old.pool, cache: old.cache })
        report.updated.push(name)
      } else {
        report.unchanged.push(name)
      }
    }
    await Promise.all(
      [...fresh.values()].map(async (tenant) => {
        if (this.tenants.get(tenant.name)?.pool.paused) void tenant.pool.pause()
        await startTenant(tenant)
      }),
    )
    if (this.closed) {
      await Promise.all([...fresh.values()].map((t) => closeTenant(t, false)))
      throw shuttingDown()
    }

    // The swap: synchronous, so no request sees half of it.
    const retired: { tenant: Tenant; forget: boolean }[] = []
    for (const [name, tenant] of this.tenants) {
      if (!(name in next.tenants)) {
        this.tenants.delete(name)
        retired.push({ tenant, forget: true })
        report.removed.push(name)
      }
    }
    for (const [name, tenant] of fresh) {
      const old = this.tenants.get(name)
      if (old) retired.push({ tenant: old, forget: false })
      this.add(tenant)
    }
    for (const [name, tenant] of swaps) this.tenants.set(name, tenant)
    this.tokens.current = indexTokens(next)
    this.current = next

    for (const { tenant, forget } of retired) {
      const done = this.drain(tenant, forget)
      this.draining.set(tenant.pool, { name: tenant.name, done, tenant })
    }
    logger.info(report, 'config reloaded')
    return report
  }

  private async drain(tenant: Tenant, forget: boolean): Promise<void> {
    const { pool, name } = tenant
    const { requests, logger, metrics } = this.options
    const deadline = Date.now() + drainLimitMs(tenant.config)
    await requests.passed(drainLimitMs(tenant.config))
    // Open transactions still hold connections: they end, or the deadline passes.
    // (A gateway that closes meanwhile closes this pool itself, which ends the wait.)
    const quiet = await pool.drained(Math.max(0, deadline - Date.now()))
    await closeTenant(tenant, !quiet)
    metrics?.pools.untrack(name, pool, { forget })
    this.draining.delete(pool)
    logger.info(
      { tenant: name, graceful: quiet },
      forget ? 'removed tenant drained and closed' : 'replaced pool drained and closed',
    )
  }
}
