/**
 * A cache-enabled tenant's wire transactions that may have written: what they changed is
 * dropped from every gateway process's cache (server/cache/, docs/cache.md) before the
 * client learns the transaction is over, as engine/cache-writes.ts does for HTTP.
 */
import type { WriteEffect } from '../cache/catalog.js'
import type { TenantCache } from '../cache/tenant-cache.js'
import type { Pool } from '../pool/pool.js'
import { WrittenStatements } from '../engine/written-statements.js'
import type { Lease } from './lease.js'
import type { WireSession } from './session.js'

/**
 * At the end of a transaction that may have written, drops what it changed from every
 * cache, then calls `then`: the client learns the transaction is over only afterwards.
 * Returns false when there is nothing to wait for.
 */
export function invalidate(session: WireSession, lease: Lease, then: () => void): boolean {
  const cache = lease.tenant.cache
  const written = session.written
  if (!cache || written === undefined || written.empty) return false
  session.written = new WrittenStatements()
  const effect = effectOf(session, cache, written)
  if ('kind' in effect && effect.kind === 'none') return false
  session.stall = 'end'
  void Promise.resolve(effect)
    .then((e) => cache.written(e))
    .then(() => {
      if (session.lease === lease && !session.closed) then()
    })
  return true
}

/**
 * The backend goes while answers are still due (the client left, or the session ended,
 * behind a COMMIT or a write alone in its transaction): PostgreSQL may commit it all the
 * same, and nobody waits for its ReadyForQuery. What it may have written is dropped from
 * every cache once the backend's connection has closed, when it has committed or never
 * will: dropped earlier, a read in between could keep the old value.
 *
 * Behind a network gone silent the close never ends, and the pool drops the socket after
 * the tenant's statement timeout and the check timeout (server/pool/closing.ts): PostgreSQL
 * may then still run the statement. The cache assumes the worst: what it may have written is
 * dropped at once, the backend is terminated through another connection (PostgreSQL 14's
 * `pg_terminate_backend(pid, timeout)` waits for it to exit) and dropped again once it is
 * gone, or, should that fail, the whole tenant cache is dropped again once a statement
 * PostgreSQL started by then has met the statement timeout.
 */
export function invalidateWhenGone(session: WireSession, lease: Lease): void {
  const cache = lease.tenant.cache
  const written = session.written
  if (!cache || written === undefined || written.empty) return
  const effect = effectOf(session, cache, written)
  const { connection } = lease.relay
  const { pool, config } = lease.tenant
  void connection.ended
    .then(async () => {
      await cache.written(await effect)
      if (!connection.abandoned) return
      if (await terminated(pool, connection.pid, config.connection.connectTimeoutMs)) {
        await cache.written(await effect)
        return
      }
      const late = setTimeout(() => {
        void cache.written(UNKNOWN_END).catch(() => {})
      }, config.statementTimeoutMs + 1_000)
      late.unref()
    })
    .catch(() => {})
}

const UNKNOWN_END: WriteEffect = {
  kind: 'all',
  why: 'a backend left behind a silent network may have committed after its connection closed',
  schema: true,
}

/**
 * Terminates backend `pid` from another connection of `pool` and waits until it exited:
 * true once it is gone (or was already), false when that could not be learnt.
 */
async function terminated(pool: Pool, pid: number, timeoutMs: number): Promise<boolean> {
  if (pid === 0) return false
  try {
    const connection = await pool.acquire(undefined, 'terminate an abandoned backend')
    try {
      const outcome = await connection.run({
        // No such backend: it exited already. False when it outlived the wait.
        text: `select coalesce((select pg_terminate_backend(pid, $2::bigint) from pg_stat_activity
          where pid = $1::int and usename = current_user), true) as gone`,
        values: [String(pid), String(timeoutMs)],
      })
      return outcome.rows[0]?.[0] === 't'
    } finally {
      pool.release(connection)
    }
  } catch {
    return false
  }
}

/**
 * What the statements `written` may have changed. The catalog resolves
 * their table names with the role's own search_path: a session that set its own (at
 * connect time, or by a SET it is pinned for) may have written other tables of the same
 * names, so a write of named tables drops everything instead.
 */
function effectOf(
  session: WireSession,
  cache: TenantCache,
  written: WrittenStatements,
): WriteEffect | Promise<WriteEffect> {
  const sqls = written.sqls()
  if (sqls === 'all')
    return {
      kind: 'all',
      why: 'what the session ran is unknown or too much to keep',
      schema: true,
    }
  const effect = cache.knownEffect(sqls) ?? cache.effect(sqls)
  if (!session.pinned && !session.init.client.settings.has('search_path')) return effect
  const widen = (e: WriteEffect): WriteEffect =>
    e.kind === 'tables'
      ? {
          kind: 'all',
          why: 'the session resolves names with a search_path of its own',
          schema: false,
        }
      : e
  return 'kind' in effect ? widen(effect) : effect.then(widen)
}
