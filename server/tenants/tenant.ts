/**
 * A tenant: its resolved configuration, its pool and, when enabled, its query cache. The
 * gateway holds one per configured tenant; a token decides which one a request reaches.
 */
import { randomBytes } from 'node:crypto'
import { createTenantCache } from '../cache/create.js'
import { ChannelSigner, channelKey } from '../cache/signature.js'
import type { TenantCache } from '../cache/tenant-cache.js'
import type { TenantConfig } from '../config/schema.js'
import type { Logger } from '../log/logger.js'
import { openConnection } from '../pool/open-connection.js'
import { resolveConnection } from '../pool/pg-config.js'
import type { PoolEvent } from '../pool/pool-event.js'
import { Pool } from '../pool/pool.js'
import { privilegedRole, privilegesOf } from './privileges.js'

/** Options of {@link createTenant}. */
export interface TenantOptions {
  onPoolEvent?: (tenant: string, event: PoolEvent) => void
  /** Where the cache reports a lost invalidation channel. */
  logger?: Logger
  /**
   * This process's part of the configured pool bounds (a worker's or a cluster node's
   * share); `config.pool` keeps the configured whole. @default the configured bounds
   */
  poolBounds?: { min: number; max: number }
  /**
   * Signs the cache's invalidation channel, with the key every Sluice process on the
   * database shares (docs/cache.md). @default a key of this process's own
   */
  cacheSigner?: ChannelSigner
}

/** One tenant's runtime state. */
export interface Tenant {
  readonly name: string
  readonly config: TenantConfig
  readonly pool: Pool
  /** The query cache (docs/cache.md), when `cache.enabled`. */
  readonly cache?: TenantCache | undefined
}

/** Builds a tenant and its (not yet started) pool. No connection opens until {@link startTenant}. */
export function createTenant(
  name: string,
  config: TenantConfig,
  options: TenantOptions = {},
): Tenant {
  const resolved = resolveConnection(config)
  const lifetimeMs = config.pool.maxLifetimeSeconds * 1000
  const onPoolEvent = options.onPoolEvent
  const prepared = { threshold: config.pool.prepareThreshold, max: config.pool.preparedMax }
  const pool = new Pool({
    ...config.pool,
    ...options.poolBounds,
    checkTimeoutMs: config.connection.connectTimeoutMs,
    runningCloseMs: config.statementTimeoutMs + config.connection.connectTimeoutMs,
    connect: async () => {
      const connection = await openConnection(
        resolved.client,
        lifetimeMs,
        resolved.cancel,
        prepared,
      )
      if (config.allowPrivilegedRole) return connection
      // Asked of every new connection, so a role that loses its privileges is served again.
      const { role, privileges } = await privilegesOf(connection).catch(async (error) => {
        await connection.close()
        throw error
      })
      if (privileges.length === 0) return connection
      await connection.close()
      throw privilegedRole(name, role, privileges)
    },
    ...(onPoolEvent ? { onEvent: (event: PoolEvent) => onPoolEvent(name, event) } : {}),
  })
  const cache = config.cache.enabled
    ? createTenantCache({
        name,
        config,
        pool,
        resolved,
        logger: options.logger,
        signer: options.cacheSigner ?? new ChannelSigner(channelKey(randomBytes(32))),
      })
    : undefined
  return { name, config, pool, cache }
}

/** Opens the pool's `min` connections and joins the cache's invalidation channel. */
export async function startTenant(tenant: Tenant): Promise<void> {
  await Promise.all([tenant.pool.start(), tenant.cache?.start()])
}

/** Closes the pool (`destroy`: cancelling what still runs), then the cache's channel. */
export async function closeTenant(tenant: Tenant, destroy: boolean): Promise<void> {
  await (destroy ? tenant.pool.destroy() : tenant.pool.close())
  await tenant.cache?.close()
}
