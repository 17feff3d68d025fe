/**
 * Lending a pool's connections and taking them back: the loan each borrow holds (who holds
 * it since when, for the hold-time watchdog, and a ticket that closing the pool waits for),
 * and a connection coming back, or coming fresh, handed to the longest waiter or parked idle.
 */
import type { Connection } from './connection.js'
import { drop } from './closing.js'
import { grow } from './opening.js'
import { checkPaused } from './pausing.js'
import type { Pool } from './pool.js'
import { settleWaiter } from './waiters.js'

/** Records `connection` as lent to `holder` (a request id or `transaction <id>`). */
export function lend(pool: Pool, connection: Connection, holder: string | undefined): void {
  pool.busy.set(connection, {
    since: Date.now(),
    holder,
    warned: false,
    ticket: pool.loans.begin(),
  })
}

/** The borrow of `connection` is over, if it was lent. */
export function endLoan(pool: Pool, connection: Connection): void {
  pool.busy.get(connection)?.ticket.end()
  pool.busy.delete(connection)
}

/**
 * Takes a connection back (its reset may still run: ./pending-resets.ts), also from a
 * borrower that never had it (./health.ts `checked`).
 */
export function handBack(pool: Pool, connection: Connection): void {
  endLoan(pool, connection)
  if (pool.closed || connection.broken) {
    void drop(pool, connection)
    checkPaused(pool)
    return
  }
  dispatch(pool, connection)
}

/** Gives a connection nobody holds to the longest waiter, or parks it idle. */
export function dispatch(pool: Pool, connection: Connection): void {
  if (pool.pausing) {
    // PAUSE closes connections once their work is done, so the database may go away.
    pool.counters.connectionsClosed++
    void drop(pool, connection)
    checkPaused(pool)
    return
  }
  // `size` counts the others only: this one is neither idle nor lent at this point.
  if (pool.size >= pool.max) {
    // Above a bound that shrank: this one goes, and a waiter gets the next.
    pool.counters.connectionsClosed++
    void drop(pool, connection)
    grow(pool)
    return
  }
  const waiter = pool.waiters.shift()
  if (!waiter) {
    pool.idle.push(connection)
    return
  }
  settleWaiter(waiter)
  pool.counters.requestsWaitMs += Date.now() - waiter.since
  lend(pool, connection, waiter.holder)
  waiter.resolve(connection)
}
