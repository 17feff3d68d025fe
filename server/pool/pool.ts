/**
 * The tenant pool: psycopg_pool's knobs on top of pg's Client. Keeps `min` connections
 * open, never more than `max`, queues requests with a timeout and a cap, recycles by age
 * and idleness, health-checks connections that sat idle, and hands out only clean
 * sessions (see ./session-reset.ts).
 */
import { SluiceError } from '../../src/errors.js'
import type { PoolConfig } from '../config/schema.js'
import type { Connection } from './connection.js'
import { resetSession } from './session-reset.js'
import { emptyStats, type PoolStats } from './stats.js'

/** Something that happened to a pool's connections, for logs and metrics. */
export type PoolEvent =
  | { type: 'opened'; pid: number; ms: number }
  | { type: 'connect-failed'; error: unknown }
  | { type: 'lost'; pid: number }
  | { type: 'recycled'; pid: number; reason: 'lifetime' | 'idle' | 'discarded' | 'reset-failed' }
  | { type: 'health-check-failed'; pid: number }

/** Options of {@link Pool}. */
export interface PoolOptions extends PoolConfig {
  /** Opens one connection; rejects when PostgreSQL cannot be reached. */
  connect: () => Promise<Connection>
  /** Reset every session after use, not only the ones that may be dirty. */
  resetAlways?: boolean
  /** How long a health check may take before the connection counts as broken. */
  checkTimeoutMs?: number
  onEvent?: (event: PoolEvent) => void
}

interface Waiter {
  resolve: (connection: Connection) => void
  reject: (error: unknown) => void
  since: number
  timer: ReturnType<typeof setTimeout>
  onAbort: (() => void) | undefined
  signal: AbortSignal | undefined
}

const REFILL_MAX_DELAY_MS = 10_000

/** A pool of PostgreSQL connections for one tenant. */
export class Pool {
  private readonly options: PoolOptions
  private readonly idle: Connection[] = []
  private readonly busy = new Set<Connection>()
  private waiters: Waiter[] = []
  private connecting = 0
  private closed = false
  private refillDelay = 100
  private refillTimer: ReturnType<typeof setTimeout> | undefined
  private readonly maintenance: ReturnType<typeof setInterval>
  private readonly counters = emptyStats()
  private closing: Promise<void> | undefined

  constructor(options: PoolOptions) {
    this.options = options
    const tickMs = Math.min(
      Math.max((Math.min(options.maxIdleSeconds, options.maxLifetimeSeconds) * 1000) / 4, 250),
      30_000,
    )
    this.maintenance = setInterval(() => this.maintain(), tickMs)
    this.maintenance.unref()
  }

  /** Connections open or being opened. */
  get size(): number {
    return this.idle.length + this.busy.size + this.connecting
  }

  /** Opens the `min` connections; resolves when they are open or failed. */
  async start(): Promise<void> {
    const opening: Promise<void>[] = []
    while (this.size < this.options.min) opening.push(this.open())
    await Promise.all(opening)
  }

  /**
   * Borrows a connection. Rejects with POOL_QUEUE_FULL at once when `maxWaiting` requests
   * already wait, POOL_TIMEOUT after `acquireTimeoutMs`, DB_UNAVAILABLE when a needed
   * connection cannot be opened, or the signal's reason when it aborts.
   */
  async acquire(signal?: AbortSignal): Promise<Connection> {
    if (this.closed)
      throw new SluiceError('SHUTTING_DOWN', 'the gateway is shutting down', {
        retryable: true,
        retryAfter: 1,
      })
    this.counters.requestsNum++
    while (this.waiters.length === 0 && this.idle.length > 0) {
      const connection = this.idle.pop()!
      this.busy.add(connection)
      if (await this.usable(connection)) return connection
    }
    const { maxWaiting, acquireTimeoutMs } = this.options
    if (maxWaiting > 0 && this.waiters.length >= maxWaiting) {
      this.counters.requestsErrors++
      throw new SluiceError(
        'POOL_QUEUE_FULL',
        `${this.waiters.length} requests already wait for a connection`,
        {
          retryable: true,
          retryAfter: 1,
        },
      )
    }
    signal?.throwIfAborted()
    this.counters.requestsQueued++
    return new Promise<Connection>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        since: Date.now(),
        signal,
        onAbort: undefined,
        timer: setTimeout(() => {
          this.removeWaiter(waiter)
          this.counters.requestsErrors++
          reject(
            new SluiceError(
              'POOL_TIMEOUT',
              `no connection became free within ${acquireTimeoutMs} ms`,
              {
                retryable: true,
                retryAfter: 1,
              },
            ),
          )
        }, acquireTimeoutMs),
      }
      if (signal) {
        waiter.onAbort = () => {
          this.removeWaiter(waiter)
          reject(signal.reason)
        }
        signal.addEventListener('abort', waiter.onAbort, { once: true })
      }
      this.waiters.push(waiter)
      this.grow()
    })
  }

  /**
   * Returns a borrowed connection. A dirty session is reset first; a broken, cancelled,
   * expired or discarded one is closed and replaced. Safe to call twice.
   */
  release(connection: Connection, options: { discard?: boolean } = {}): void {
    if (!this.busy.has(connection)) return
    connection.lastUsedAt = Date.now()
    if (connection.broken || connection.transactionStatus !== 'I') this.counters.returnsBad++
    if (options.discard || connection.broken || connection.cancelled || this.closed) {
      this.retire(connection, 'discarded')
      return
    }
    if (connection.lastUsedAt >= connection.expiresAt) {
      this.retire(connection, 'lifetime')
      return
    }
    if (this.options.resetAlways || connection.dirty || connection.transactionStatus !== 'I') {
      resetSession(connection).then(
        () => this.handBack(connection),
        () => this.retire(connection, 'reset-failed'),
      )
      return
    }
    this.handBack(connection)
  }

  /** psycopg_pool's get_stats(), plus the current longest wait. */
  stats(): PoolStats {
    const now = Date.now()
    return {
      ...this.counters,
      poolMin: this.options.min,
      poolMax: this.options.max,
      poolSize: this.size,
      poolAvailable: this.idle.length,
      poolInUse: this.busy.size,
      requestsWaiting: this.waiters.length,
      longestWaitMs: this.waiters.length > 0 ? now - this.waiters[0]!.since : 0,
    }
  }

  /**
   * Stops the pool: waiting requests fail with SHUTTING_DOWN, idle connections close at
   * once, borrowed ones close when returned. Resolves when every connection is closed.
   */
  close(): Promise<void> {
    if (this.closing) return this.closing
    this.closed = true
    clearInterval(this.maintenance)
    clearTimeout(this.refillTimer)
    for (const waiter of this.waiters.splice(0)) {
      this.settle(waiter)
      waiter.reject(
        new SluiceError('SHUTTING_DOWN', 'the gateway is shutting down', {
          retryable: true,
          retryAfter: 1,
        }),
      )
    }
    const closing = this.idle.splice(0).map((c) => c.close())
    this.closing = (async () => {
      await Promise.all(closing)
      while (this.busy.size > 0 || this.connecting > 0) await new Promise((r) => setTimeout(r, 10))
    })()
    return this.closing
  }

  /** Closes every connection now, borrowed or not (their statements fail). */
  async destroy(): Promise<void> {
    const closing = this.close()
    await Promise.all([...this.busy].map((c) => c.close()))
    await closing
  }

  private async usable(connection: Connection): Promise<boolean> {
    const now = Date.now()
    if (connection.broken || now >= connection.expiresAt) {
      this.retire(connection, connection.broken ? 'discarded' : 'lifetime')
      return false
    }
    if (now - connection.lastUsedAt < this.options.healthCheckAfterIdleMs) return true
    const timeoutMs = this.options.checkTimeoutMs ?? 5000
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
    this.options.onEvent?.({ type: 'health-check-failed', pid: connection.pid })
    this.counters.connectionsLost++
    this.retire(connection, 'discarded')
    return false
  }

  private handBack(connection: Connection): void {
    this.busy.delete(connection)
    if (this.closed || connection.broken) {
      void connection.close()
      return
    }
    this.dispatch(connection)
  }

  /** Gives a fresh connection to the longest waiter, or parks it idle. */
  private dispatch(connection: Connection): void {
    const waiter = this.waiters.shift()
    if (!waiter) {
      this.idle.push(connection)
      return
    }
    this.settle(waiter)
    this.counters.requestsWaitMs += Date.now() - waiter.since
    this.busy.add(connection)
    waiter.resolve(connection)
  }

  private settle(waiter: Waiter): void {
    clearTimeout(waiter.timer)
    if (waiter.onAbort) waiter.signal?.removeEventListener('abort', waiter.onAbort)
  }

  private removeWaiter(waiter: Waiter): void {
    this.settle(waiter)
    const index = this.waiters.indexOf(waiter)
    if (index >= 0) this.waiters.splice(index, 1)
  }

  private retire(
    connection: Connection,
    reason: 'lifetime' | 'idle' | 'discarded' | 'reset-failed',
  ): void {
    this.busy.delete(connection)
    const index = this.idle.indexOf(connection)
    if (index >= 0) this.idle.splice(index, 1)
    this.options.onEvent?.({ type: 'recycled', pid: connection.pid, reason })
    this.counters.connectionsClosed++
    void connection.close()
    this.grow()
    this.refill()
  }

  /** Opens connections for waiters, up to `max`. */
  private grow(): void {
    while (!this.closed && this.waiters.length > this.connecting && this.size < this.options.max)
      void this.open()
  }

  /** Keeps `min` connections open. */
  private refill(): void {
    while (!this.closed && this.size < this.options.min) void this.open()
  }

  private async open(): Promise<void> {
    this.connecting++
    this.counters.connectionsNum++
    const started = Date.now()
    let connection: Connection
    try {
      connection = await this.options.connect()
    } catch (error) {
      this.connecting--
      this.counters.connectionsErrors++
      this.options.onEvent?.({ type: 'connect-failed', error })
      this.failOneWaiter(error)
      this.scheduleRefill()
      return
    }
    this.connecting--
    this.refillDelay = 100
    const ms = Date.now() - started
    this.counters.connectionsMs += ms
    this.options.onEvent?.({ type: 'opened', pid: connection.pid, ms })
    connection.client.on('end', () => this.lost(connection))
    if (this.closed) {
      void connection.close()
      return
    }
    this.dispatch(connection)
  }

  private failOneWaiter(error: unknown): void {
    const waiter = this.waiters.shift()
    if (!waiter) return
    this.settle(waiter)
    this.counters.requestsErrors++
    waiter.reject(
      new SluiceError('DB_UNAVAILABLE', 'the database cannot be reached', {
        retryable: true,
        retryAfter: 1,
        cause: error,
      }),
    )
    this.grow()
  }

  private lost(connection: Connection): void {
    if (this.closed) return
    const index = this.idle.indexOf(connection)
    // A borrowed connection's loss is seen by its request, which then discards it.
    if (index < 0 && !this.busy.has(connection)) return
    this.counters.connectionsLost++
    this.options.onEvent?.({ type: 'lost', pid: connection.pid })
    if (index >= 0) {
      this.idle.splice(index, 1)
      this.counters.connectionsClosed++
      this.refill()
    }
  }

  private scheduleRefill(): void {
    if (this.closed || this.refillTimer || this.size >= this.options.min) return
    this.refillTimer = setTimeout(() => {
      this.refillTimer = undefined
      this.refill()
    }, this.refillDelay)
    this.refillTimer.unref()
    this.refillDelay = Math.min(this.refillDelay * 2, REFILL_MAX_DELAY_MS)
  }

  /** Recycles idle connections past their lifetime, and ones idle past maxIdle above min. */
  private maintain(): void {
    const now = Date.now()
    const maxIdleMs = this.options.maxIdleSeconds * 1000
    // The stack's bottom holds the longest-idle connections.
    for (const connection of [...this.idle]) {
      if (now >= connection.expiresAt) this.retire(connection, 'lifetime')
      else if (now - connection.lastUsedAt >= maxIdleMs && this.size > this.options.min)
        this.retire(connection, 'idle')
    }
    this.refill()
  }
}
