/**
 * Writes through the engine, as a cache-enabled tenant's cache must hear of them: what the
 * statements may change is worked out while they run (from the catalog, usually already
 * known), and once they ran, the request's answer waits until every gateway process
 * dropped what they changed (server/cache/channel.ts). Tenants without a cache, and
 * readonly callers (PostgreSQL refuses their writes), pay nothing.
 */
import { isSluiceError } from '../../src/errors.js'
import type { WriteEffect } from '../cache/catalog.js'
import type { Tenant } from '../tenants/tenant.js'
import { isPostgresError } from './db-error.js'

/** Watches one request's writes; {@link WriteWatch.settle} once they ran. */
export interface WriteWatch {
  /**
   * The statements ran (`error` when they failed). Unless the failure proves nothing was
   * committed, drops and publishes what they may have changed; never throws.
   */
  settle(error?: unknown): Promise<void>
}

/** True when `error` proves that the statement's transaction committed nothing. */
function committedNothing(error: unknown): boolean {
  // PostgreSQL's ERROR ends the transaction in a rollback; `retryable` promises it never ran.
  if (isPostgresError(error)) return error.severity === 'ERROR' && !error.code.startsWith('08')
  if (!isSluiceError(error)) return false
  if (error.retryable) return true
  const { sqlstate, severity } = error.fields
  return severity === 'ERROR' && typeof sqlstate === 'string' && !sqlstate.startsWith('08')
}

/**
 * Starts watching `sqls` run by a writer of `tenant` (`'all'`: statements too many to keep,
 * ./written-statements.ts); undefined when there is nothing to do.
 */
export function watchWrites(
  tenant: Tenant,
  readOnly: boolean,
  sqls: readonly string[] | 'all',
): WriteWatch | undefined {
  const cache = tenant.cache
  if (!cache || readOnly || (sqls !== 'all' && sqls.length === 0)) return undefined
  // Statements let go may have changed anything, the schema included.
  const effect: Promise<WriteEffect> =
    sqls === 'all'
      ? Promise.resolve({
          kind: 'all',
          why: 'more statements than a transaction keeps',
          schema: true,
        })
      : cache.effect(sqls)
  return {
    async settle(error) {
      if (error !== undefined && committedNothing(error)) return
      await cache.written(await effect)
    },
  }
}

/** Resolves with `result` once `watch` settled its writes (after a failure too). */
export async function settled<T>(watch: WriteWatch, result: Promise<T>): Promise<T> {
  let value: T
  try {
    value = await result
  } catch (error) {
    await watch.settle(error)
    throw error
  }
  await watch.settle()
  return value
}
