/**
 * Builds a tenant's {@link TenantCache} from its pool and connection settings: catalog
 * questions and, while the channel is down, notifications go through the pool; the channel
 * has a connection of its own.
 */
import pg from 'pg'
import type { TenantConfig } from '../config/schema.js'
import type { Logger } from '../log/logger.js'
import { errorMessage } from '../log/pool-log.js'
import type { ResolvedConnection } from '../pool/pg-config.js'
import type { Pool } from '../pool/pool.js'
import { LISTENER_APPLICATION_NAME } from './listeners.js'
import { CHANNEL } from './messages.js'
import type { ChannelSigner } from './signature.js'
import { TenantCache } from './tenant-cache.js'

/** Runs `sql` on a pooled connection and answers the first column of its first row. */
async function firstValue(pool: Pool, sql: string, values: (string | null)[]): Promise<string> {
  const connection = await pool.acquire(undefined, 'cache')
  try {
    const outcome = await connection.run({ text: sql, values })
    return outcome.rows[0]?.[0] ?? ''
  } finally {
    pool.release(connection)
  }
}

/** A PostgreSQL text[] literal. */
function textArray(values: readonly unknown[]): string {
  return `{${values.map((v) => `"${String(v).replace(/[\\"]/g, '\\$&')}"`).join(',')}}`
}

/** The password the channel's connection sends, as a secret to keep out of its log lines. */
function passwordOf(resolved: ResolvedConnection): string[] {
  const { password } = resolved.client
  return typeof password === 'string' && password !== '' ? [password] : []
}

/** What {@link createTenantCache} wires together. */
export interface TenantCacheParts {
  name: string
  config: TenantConfig
  pool: Pool
  resolved: ResolvedConnection
  logger?: Logger | undefined
  /** The deployment's channel key (./signature.ts). */
  signer: ChannelSigner
}

/**
 * A tenant's cache, wired to its pool (catalog questions, and notifications while the
 * channel is down) and to its own listening connection.
 */
export function createTenantCache(parts: TenantCacheParts): TenantCache {
  const { name, config, pool, resolved, logger, signer } = parts
  return new TenantCache({
    signer,
    tenant: name,
    config: config.cache,
    catalogQuery: (sql, params) =>
      firstValue(
        pool,
        sql,
        params.map((p) => (Array.isArray(p) ? textArray(p) : String(p))),
      ),
    connect: async () => {
      // Its own connection: a pooled one is reset (UNLISTEN *) after every borrow.
      // Notifications are hints, not data: no need to wait for their commit to reach disk.
      const settings: pg.ClientConfig = {
        ...resolved.client,
        application_name: LISTENER_APPLICATION_NAME,
        options: `${resolved.client.options ?? ''} -c synchronous_commit=off`.trim(),
      }
      Object.defineProperty(settings, 'password', {
        value: resolved.client.password,
        enumerable: false,
      })
      const client = new pg.Client(settings)
      client.on('error', () => {})
      await client.connect()
      return client
    },
    notifyElsewhere: async (payloads) => {
      const calls = payloads.map((_, i) => `pg_catalog.pg_notify($1, $${i + 2})`).join(', ')
      await firstValue(pool, `select ${calls}`, [CHANNEL, ...payloads])
    },
    // A server may quote the password it was sent in its refusal, as with the pool's.
    warn: (message, error) =>
      logger?.warn(
        error === undefined
          ? { tenant: name }
          : { tenant: name, error: errorMessage(error, passwordOf(resolved)) },
        message,
      ),
  })
}
