/**
 * Pausing a pool with PgBouncer's PAUSE semantics (the admin API's pause and resume): new
 * acquires wait, until resumed or TENANT_PAUSED after `acquireTimeoutMs` (./waiters.ts);
 * borrowed connections finish their work and are then closed (./lending.ts `dispatch`), as
 * idle ones are at once, so the database may go away while the pool is paused.
 */
import { drop } from './closing.js'
import { grow, refill } from './opening.js'
import type { Pool } from './pool.js'

/** Pauses `pool`; resolves when nothing is borrowed or being opened any more. */
export function pausePool(pool: Pool): Promise<void> {
  if (!pool.pausing) {
    let settle!: () => void
    const settled = new Promise<void>((resolve) => (settle = resolve))
    pool.pausing = { settled, settle }
    pool.options.onEvent?.({ type: 'paused' })
    for (const connection of pool.idle.splice(0)) {
      pool.counters.connectionsClosed++
      void drop(pool, connection)
    }
    checkPaused(pool)
  }
  return pool.pausing.settled
}

/** Ends a pause: waiting requests get connections again and `min` reopen. */
export function resumePool(pool: Pool): void {
  if (!pool.pausing) return
  pool.pausing.settle()
  pool.pausing = undefined
  pool.options.onEvent?.({ type: 'resumed' })
  grow(pool)
  refill(pool)
}

/** Wakes those awaiting {@link pausePool} once nothing is borrowed or being opened. */
export function checkPaused(pool: Pool): void {
  if (pool.pausing && pool.busy.size === 0 && pool.connecting === 0) pool.pausing.settle()
}
