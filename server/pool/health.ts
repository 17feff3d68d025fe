/**
 * Whether a pool's connection may be lent (its reset done, within its lifetime, and a health
 * check passed if it sat idle longer than `healthCheckAfterIdleMs`), and the maintenance
 * tick that recycles connections past their lifetime or idle past `maxIdleSeconds`, and warns
 * of borrows held longer than `holdWarningMs`.
 */
import type { AbortLike } from '../lifecycle/abort.js'
import { retire } from './closing.js'
import type { Connection } from './connection.js'
import { handBack } from './lending.js'
import { refill } from './opening.js'
import { resetDone } from './pending-resets.js'
import type { Pool } from './pool.js'

/** Whether a connection sat idle long enough to be checked before it is lent. */
export function checkDue(pool: Pool, connection: Connection, now: number): boolean {
  return now - connection.lastUsedAt >= pool.options.healthCheckAfterIdleMs
}

/** Usable with nothing to wait for: no reset still running, no health check due. */
export function readyNow(pool: Pool, connection: Connection): boolean {
  if (pool.resets.has(connection) || connection.broken) return false
  const now = Date.now()
  return now < connection.expiresAt && !checkDue(pool, connection, now)
}

/** Usable once its reset is done, within its lifetime, and healthy if it sat idle a while. */
export async function usable(pool: Pool, connection: Connection): Promise<boolean> {
  if (!(await resetDone(pool, connection))) return false
  const now = Date.now()
  if (connection.broken || now >= connection.expiresAt) {
    retire(pool, connection, connection.broken ? 'discarded' : 'lifetime')
    return false
  }
  if (!checkDue(pool, connection, now)) return true
  const timeoutMs = pool.options.checkTimeoutMs ?? 5000
  let timer: ReturnType<typeof setTimeout> | undefined
  const healthy = await Promise.race([
    connection.simple('').then(
      () => true,
      () => false,
    ),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
  ])
  clearTimeout(timer)
  if (healthy) return true
  pool.options.onEvent?.({ type: 'health-check-failed', pid: connection.pid })
  pool.counters.connectionsLost++
  retire(pool, connection, 'discarded')
  return false
}

/**
 * {@link usable}, within the borrower's acquire deadline and its signal: checks of silent
 * connections (each up to the check timeout) must not hold a request past
 * `acquireTimeoutMs`, nor one whose client left. A borrower that gives up leaves the check
 * running: it retires a broken connection, and a healthy one goes to the next borrower.
 */
export async function checked(
  pool: Pool,
  connection: Connection,
  deadline: number,
  signal: AbortLike | undefined,
): Promise<boolean | 'gave-up'> {
  const check = usable(pool, connection)
  let timer: ReturnType<typeof setTimeout> | undefined
  let onAbort: (() => void) | undefined
  const outcome = await Promise.race([
    check,
    new Promise<'gave-up'>((resolve) => {
      timer = setTimeout(() => resolve('gave-up'), Math.max(deadline - Date.now(), 0))
      onAbort = () => resolve('gave-up')
      if (signal?.aborted) resolve('gave-up')
      else signal?.addEventListener('abort', onAbort, { once: true })
    }),
  ])
  clearTimeout(timer)
  if (onAbort) signal?.removeEventListener('abort', onAbort)
  if (outcome === 'gave-up')
    void check.then((healthy) => {
      if (healthy) handBack(pool, connection)
    })
  return outcome
}

/** Recycles idle connections past their lifetime, and ones idle past maxIdle above min. */
export function maintain(pool: Pool): void {
  const now = Date.now()
  for (const [connection, loan] of pool.busy) {
    const held = now - loan.since
    if (!loan.warned && held >= pool.options.holdWarningMs) {
      loan.warned = true
      pool.options.onEvent?.({
        type: 'held-too-long',
        pid: connection.pid,
        ms: held,
        holder: loan.holder,
      })
    }
  }
  const maxIdleMs = pool.options.maxIdleSeconds * 1000
  // The stack's bottom holds the longest-idle connections.
  for (const connection of [...pool.idle]) {
    if (now >= connection.expiresAt) retire(pool, connection, 'lifetime')
    else if (now - connection.lastUsedAt >= maxIdleMs && pool.size > pool.min)
      retire(pool, connection, 'idle')
  }
  refill(pool)
}
