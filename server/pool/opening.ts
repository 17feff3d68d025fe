/**
 * Opening a pool's connections: for waiters up to `max`, up to `min` at all times, again
 * after a failure with a growing delay, and, when PostgreSQL refuses for want of slots
 * (`too many connections for role`, a role's CONNECTION LIMIT), after a short backoff while
 * the waiters keep waiting. A connection that closes while idle is counted as lost.
 */
import { drop } from './closing.js'
import type { Connection } from './connection.js'
import { dispatch } from './lending.js'
import { checkPaused } from './pausing.js'
import type { Pool } from './pool.js'
import { failOneWaiter } from './waiters.js'

const REFILL_MAX_DELAY_MS = 10_000
/** PostgreSQL's too_many_connections: the role's CONNECTION LIMIT, or max_connections. */
const TOO_MANY_CONNECTIONS = '53300'
/** How soon to try again after PostgreSQL refused a connection for want of slots. */
export const SLOT_RETRY_MS = 50
const SLOT_RETRY_MAX_MS = 1000

function isTooManyConnections(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === TOO_MANY_CONNECTIONS
}

/** Opens connections for waiters, up to `max`. */
export function grow(pool: Pool): void {
  while (
    !pool.closed &&
    !pool.pausing &&
    pool.waiters.length > pool.connecting &&
    pool.size < pool.max &&
    pool.slotTimer === undefined
  )
    void open(pool)
}

/** Keeps `min` connections open. */
export function refill(pool: Pool): void {
  while (!pool.closed && !pool.pausing && pool.size < pool.min && pool.slotTimer === undefined)
    void open(pool)
}

/**
 * PostgreSQL has no slot for another connection (the role's CONNECTION LIMIT, or
 * max_connections): the waiters keep waiting, for a connection coming back here or a
 * slot freed elsewhere, which is tried for again after a short backoff.
 */
function waitForSlot(pool: Pool, error: unknown): void {
  pool.refused = error instanceof Error ? error.message : String(error)
  if (pool.slotTimer !== undefined || pool.closed) return
  pool.slotTimer = setTimeout(() => {
    pool.slotTimer = undefined
    grow(pool)
    refill(pool)
  }, pool.slotRetryMs)
  pool.slotTimer.unref()
  pool.slotRetryMs = Math.min(pool.slotRetryMs * 2, SLOT_RETRY_MAX_MS)
}

/** Opens one connection, counted as opening until it is lent, parked or failed. */
export async function open(pool: Pool): Promise<void> {
  const ticket = pool.opening.begin()
  try {
    await openOne(pool)
  } finally {
    ticket.end()
  }
}

async function openOne(pool: Pool): Promise<void> {
  pool.connecting++
  pool.counters.connectionsNum++
  const started = Date.now()
  let connection: Connection
  try {
    connection = await pool.options.connect()
  } catch (error) {
    pool.connecting--
    pool.counters.connectionsErrors++
    // Told once per spell of refusals for want of slots: they are retried often.
    const slots = isTooManyConnections(error)
    if (!slots || pool.refused === undefined)
      pool.options.onEvent?.({ type: 'connect-failed', error })
    checkPaused(pool)
    if (slots) waitForSlot(pool, error)
    else {
      failOneWaiter(pool, error)
      scheduleRefill(pool)
    }
    return
  }
  pool.connecting--
  pool.refillDelay = 100
  pool.refused = undefined
  pool.slotRetryMs = SLOT_RETRY_MS
  const ms = Date.now() - started
  pool.counters.connectionsMs += ms
  pool.options.onEvent?.({ type: 'opened', pid: connection.pid, ms })
  connection.client.on('end', () => lost(pool, connection))
  if (pool.closed) {
    void drop(pool, connection)
    return
  }
  dispatch(pool, connection)
}

function lost(pool: Pool, connection: Connection): void {
  if (pool.closed) return
  const index = pool.idle.indexOf(connection)
  // A borrowed connection's loss is seen by its borrower, which then discards it: counted
  // there (returnsBad, or a failed health check), not here too.
  if (index < 0 && !pool.busy.has(connection)) return
  pool.options.onEvent?.({ type: 'lost', pid: connection.pid })
  if (index >= 0) {
    pool.counters.connectionsLost++
    pool.idle.splice(index, 1)
    pool.counters.connectionsClosed++
    refill(pool)
  }
}

function scheduleRefill(pool: Pool): void {
  if (pool.closed || pool.refillTimer || pool.size >= pool.min) return
  pool.refillTimer = setTimeout(() => {
    pool.refillTimer = undefined
    refill(pool)
  }, pool.refillDelay)
  pool.refillTimer.unref()
  pool.refillDelay = Math.min(pool.refillDelay * 2, REFILL_MAX_DELAY_MS)
}
