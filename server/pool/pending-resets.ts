/**
 * The session resets still running on connections already handed back: started when a
 * borrower releases its connection (./session-reset.ts says what a reset is), awaited by
 * the next borrower before it gets the connection, so no statement runs ahead of a reset and
 * the pool opens no second connection for a client that asks again right away.
 */
import { retire } from './closing.js'
import type { Connection } from './connection.js'
import type { Pool } from './pool.js'
import { resetSession } from './session-reset.js'

/**
 * Starts the reset of a connection just released, kept in `pool.resets` until it is done;
 * a reset that fails or times out marks the connection broken.
 */
export function startReset(pool: Pool, connection: Connection): void {
  // A reset that gets no answer (a network gone silent) must not hold the next borrower
  // for ever: past the check timeout the connection is given up, as a failed check is.
  const timeoutMs = pool.options.checkTimeoutMs ?? 5000
  let timer: ReturnType<typeof setTimeout> | undefined
  const reset = Promise.race([
    resetSession(connection),
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`the session reset got no answer within ${timeoutMs} ms`)),
        timeoutMs,
      )
    }),
  ]).then(
    () => {
      clearTimeout(timer)
      pool.resets.delete(connection)
    },
    (error: unknown) => {
      clearTimeout(timer)
      pool.resets.delete(connection)
      connection.broken = true
      // Nobody holds it: retire it now. A borrower waiting on it retires it itself.
      if (pool.idle.includes(connection)) retire(pool, connection, 'reset-failed')
      throw error
    },
  )
  reset.catch(() => {})
  pool.resets.set(connection, reset)
}

/**
 * Waits for the reset of a connection just lent, if one still runs; a failed reset
 * retires the connection and answers false.
 */
export async function resetDone(pool: Pool, connection: Connection): Promise<boolean> {
  const reset = pool.resets.get(connection)
  if (reset === undefined) return true
  try {
    await reset
    return true
  } catch {
    retire(pool, connection, 'reset-failed')
    return false
  }
}
