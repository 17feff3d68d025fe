/**
 * Closing a pool's connections, and the pool itself. A connection that runs nothing gets the
 * check timeout to close: behind a network that stopped answering PostgreSQL never answers
 * the Terminate, and its socket is dropped rather than held for ever.
 */
import { shuttingDown } from '../errors.js'
import type { Connection } from './connection.js'
import { endLoan } from './lending.js'
import { grow, refill } from './opening.js'
import { checkPaused } from './pausing.js'
import type { Pool } from './pool.js'
import { settleWaiter } from './waiters.js'

/** Closes a connection that runs nothing, within the check timeout. */
export function drop(pool: Pool, connection: Connection): Promise<void> {
  return connection.close(pool.options.checkTimeoutMs ?? 5000)
}

/**
 * Takes a connection out of the pool for good and closes it, within the check timeout
 * ({@link drop}) unless `mayRun`: its borrower discarded it with answers still due, so
 * PostgreSQL may still run a statement, and the close waits for it (Connection.ended,
 * which a wire session's cache invalidation awaits, then means it committed or never will),
 * for `runningCloseMs` at most: past it the socket is dropped and the connection marked
 * `abandoned` (PostgreSQL may still be running it; server/wire/cache-writes.ts then assumes
 * the worst). The pool opens another for its waiters and its `min`.
 */
export function retire(
  pool: Pool,
  connection: Connection,
  reason: 'lifetime' | 'idle' | 'discarded' | 'reset-failed',
  mayRun = false,
): void {
  endLoan(pool, connection)
  const index = pool.idle.indexOf(connection)
  if (index >= 0) pool.idle.splice(index, 1)
  pool.options.onEvent?.({ type: 'recycled', pid: connection.pid, reason })
  pool.counters.connectionsClosed++
  void (mayRun ? connection.close(pool.options.runningCloseMs ?? 60_000) : drop(pool, connection))
  grow(pool)
  refill(pool)
  checkPaused(pool)
}

/**
 * Stops `pool`: waiting requests fail with SHUTTING_DOWN, idle connections close at once,
 * borrowed ones when returned. Resolves when every connection is closed.
 */
export function closePool(pool: Pool): Promise<void> {
  if (pool.closing) return pool.closing
  pool.closed = true
  pool.pausing?.settle()
  clearInterval(pool.maintenance)
  clearTimeout(pool.refillTimer)
  clearTimeout(pool.slotTimer)
  clearTimeout(pool.waitTimer)
  for (const waiter of pool.waiters.splice(0)) {
    settleWaiter(waiter)
    waiter.reject(shuttingDown())
  }
  const closing = pool.idle.splice(0).map((c) => drop(pool, c))
  pool.closing = (async () => {
    await Promise.all([...closing, pool.loans.idle(), pool.opening.idle()])
  })()
  return pool.closing
}

/**
 * Closes every connection of `pool` now, borrowed or not: running statements are cancelled
 * in PostgreSQL first, so nothing keeps running on the server after the socket closes.
 */
export async function destroyPool(pool: Pool): Promise<void> {
  const closing = closePool(pool)
  await Promise.all(
    [...pool.busy.keys()].map(async (c) => {
      await c.cancel()
      await drop(pool, c)
    }),
  )
  await closing
}
