/**
 * The requests waiting for a connection: in arrival order, failed together by one deadline
 * timer (POOL_TIMEOUT, or TENANT_PAUSED while the pool is paused), one at a time when a
 * connection cannot be opened for them, or as they give up (their signal aborts).
 */
import { SluiceError } from '../../src/errors.js'
import { clientClosed } from '../errors.js'
import type { AbortLike } from '../lifecycle/abort.js'
import type { Connection } from './connection.js'
import { connectFailure } from './connect-failure.js'
import { grow } from './opening.js'
import type { Pool } from './pool.js'

/** A request waiting for a connection. */
export interface Waiter {
  resolve: (connection: Connection) => void
  reject: (error: unknown) => void
  since: number
  /** When it gives up (Date.now() clock): POOL_TIMEOUT, or TENANT_PAUSED while paused. */
  deadline: number
  timeoutMs: number
  holder: string | undefined
  onAbort: (() => void) | undefined
  signal: AbortLike | undefined
}

/**
 * Queues a request until a connection is lent to it (./pool.ts `acquire`), failing at
 * `deadline` (POOL_TIMEOUT) or when `signal` aborts. A request that waits again, after the
 * reset of the connection it was lent failed, goes ahead of those that came after it.
 */
export function waitFor(
  pool: Pool,
  signal: AbortLike | undefined,
  holder: string | undefined,
  deadline: number,
  again: boolean,
): Promise<Connection> {
  return new Promise<Connection>((resolve, reject) => {
    const waiter: Waiter = {
      resolve,
      reject,
      since: Date.now(),
      deadline,
      timeoutMs: pool.options.acquireTimeoutMs,
      holder,
      signal,
      onAbort: undefined,
    }
    if (signal) {
      waiter.onAbort = () => {
        removeWaiter(pool, waiter)
        reject(clientClosed())
      }
      signal.addEventListener('abort', waiter.onAbort, { once: true })
    }
    if (again) pool.waiters.unshift(waiter)
    else pool.waiters.push(waiter)
    armWaitTimer(pool, deadline)
    grow(pool)
  })
}

/** The waiter leaves the queue's bookkeeping: its abort listener goes. */
export function settleWaiter(waiter: Waiter): void {
  if (waiter.onAbort) waiter.signal?.removeEventListener('abort', waiter.onAbort)
}

/**
 * One timer for every waiter's deadline, rather than one per waiter (a timer set and
 * cleared per request showed in the gateway's profile): armed for the earliest deadline,
 * it fails the waiters whose time is up and arms itself again for the next.
 */
export function armWaitTimer(pool: Pool, deadline: number): void {
  if (pool.waitTimer !== undefined && pool.waitTimerAt <= deadline) return
  clearTimeout(pool.waitTimer)
  pool.waitTimerAt = deadline
  pool.waitTimer = setTimeout(expireWaiters, Math.max(deadline - Date.now(), 1), pool)
  // It may outlive the last waiter (it is not cleared per request): it must not keep the
  // process alive by itself.
  pool.waitTimer.unref()
}

/** The wait timer's callback: one function for every pool, no closure per pool. */
function expireWaiters(pool: Pool): void {
  pool.waitTimer = undefined
  const now = Date.now()
  let next = Infinity
  for (const waiter of [...pool.waiters]) {
    if (waiter.deadline > now) {
      next = Math.min(next, waiter.deadline)
      continue
    }
    removeWaiter(pool, waiter)
    pool.counters.requestsErrors++
    waiter.reject(
      pool.pausing
        ? new SluiceError(
            'TENANT_PAUSED',
            `the tenant is paused by the operator and stayed paused for ${waiter.timeoutMs} ms`,
            { retryable: true },
          )
        : new SluiceError('POOL_TIMEOUT', timeoutMessage(pool, waiter.timeoutMs), {
            retryable: true,
          }),
    )
  }
  if (next !== Infinity) armWaitTimer(pool, next)
}

/** Takes a waiter out of the queue (it gave up, or its time is up). */
export function removeWaiter(pool: Pool, waiter: Waiter): void {
  settleWaiter(waiter)
  const index = pool.waiters.indexOf(waiter)
  if (index >= 0) pool.waiters.splice(index, 1)
}

/**
 * The waiters no connection is coming for: beyond those being opened and those the pool
 * may still open (none while paused). A burst below `max` is not a queue, so it never meets
 * `maxWaiting`.
 */
export function queued(pool: Pool): number {
  const coming = pool.pausing ? 0 : pool.connecting + Math.max(pool.max - pool.size, 0)
  return pool.waiters.length - coming
}

/** POOL_TIMEOUT's message: why no connection came, when PostgreSQL said why. */
export function timeoutMessage(pool: Pool, acquireTimeoutMs: number): string {
  const base = `no connection became free within ${acquireTimeoutMs} ms`
  if (pool.max === 0)
    return `${base}: this process's share of the tenant's pool is 0 connections (pool.max is divided among the cluster's nodes and workers: raise it)`
  if (pool.refused !== undefined)
    return `${base} (PostgreSQL refused more connections: ${pool.refused})`
  return base
}

/** A connection could not be opened: the longest waiter learns why. */
export function failOneWaiter(pool: Pool, error: unknown): void {
  const waiter = pool.waiters.shift()
  if (!waiter) return
  settleWaiter(waiter)
  pool.counters.requestsErrors++
  waiter.reject(connectFailure(error))
  grow(pool)
}
