/**
 * A cache-enabled tenant's wire transactions that may have written: what they changed is
 * dropped from every gateway process's cache (server/cache/, docs/cache.md) before the
 * client learns the transaction is over, as engine/cache-writes.ts does for HTTP.
 */
import type { WriteEffect } from '../cache/catalog.js'
import type { TenantCache } from '../cache/tenant-cache.js'
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
 */
export function invalidateWhenGone(session: WireSession, lease: Lease): void {
  const cache = lease.tenant.cache
  const written = session.written
  if (!cache || written === undefined || written.empty) return
  const effect = effectOf(session, cache, written)
  void lease.relay.connection.ended.then(async () => cache.written(await effect)).catch(() => {})
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
