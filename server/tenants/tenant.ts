/**
 * A tenant: its resolved configuration and its pool. The gateway holds one per configured
 * tenant; a token decides which one a request reaches.
 */
import type { TenantConfig } from '../config/schema.js'
import { openConnection } from '../pool/connection.js'
import { resolveConnection } from '../pool/pg-config.js'
import { Pool, type PoolEvent } from '../pool/pool.js'

/** Options of {@link createTenant}. */
export interface TenantOptions {
  onPoolEvent?: (tenant: string, event: PoolEvent) => void
  /**
   * This process's part of the configured pool bounds (a worker's or a cluster node's
   * share); `config.pool` keeps the configured whole. @default the configured bounds
   */
  poolBounds?: { min: number; max: number }
}

/** One tenant's runtime state. */
export interface Tenant {
  readonly name: string
  readonly config: TenantConfig
  readonly pool: Pool
}

/** Builds a tenant and its (not yet started) pool. No connection opens until `pool.start()`. */
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
    connect: () => openConnection(resolved.client, lifetimeMs, resolved.cancel, prepared),
    ...(onPoolEvent ? { onEvent: (event: PoolEvent) => onPoolEvent(name, event) } : {}),
  })
  return { name, config, pool }
}
