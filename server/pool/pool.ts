/**
 * The tenant pool: psycopg_pool's knobs on top of pg's Client. Keeps `min` connections
 * open, never more than `max`, queues requests with a timeout and a cap, recycles by age
 * and idleness, health-checks connections that sat idle, and hands out only clean
 * sessions (see ./session-reset.ts). Its bounds may change while it runs (a worker's share
 * of a cluster's budget, server/cluster/), and PostgreSQL refusing a connection for want of
 * slots (`too many connections for role`, a role's CONNECTION LIMIT) makes requests wait
 * for one, as a full pool does, rather than fail.
 */
import { SluiceError } from '../../src/errors.js'
import type { PoolConfig } from '../config/schema.js'
import { clientClosed, shuttingDown } from '../errors.js'
import type { AbortLike } from '../lifecycle/abort.js'
import { InFlight, type Ticket } from '../lifecycle/in-flight.js'
import { closePool, destroyPool, drop, retire } from './closing.js'
import type { Connection } from './connection.js'
import { checkDue, checked, maintain, readyNow, usable } from './health.js'
import { handBack, lend } from './lending.js'
import { SLOT_RETRY_MS, grow, open, refill } from './opening.js'
import { pausePool, resumePool } from './pausing.js'
import { resetDone, startReset } from './pending-resets.js'
import type { PoolEvent } from './pool-event.js'
import { resetAnswered } from './session-reset.js'
import { emptyStats, type PoolStats } from './stats.js'
import { queued, timeoutMessage, waitFor, type Waiter } from './waiters.js'

/** Options of {@link Pool}. */
export interface PoolOptions extends PoolConfig {
  /** Opens one connection; rejects when PostgreSQL cannot be reached. */
  connect: () => Promise<Connection>
  /** How long a health check may take before the connection counts as broken. */
  checkTimeoutMs?: number
  /**
   * How long a connection discarded while PostgreSQL may still run its statement gets to
   * close (./closing.ts): the tenant's statement timeout and the check timeout. Behind a
   * network gone silent PostgreSQL never answers, and the socket is then dropped
   * ({@link Connection.abandoned}). @default 60000
   */
  runningCloseMs?: number
  onEvent?: (event: PoolEvent) => void
}

/** One borrow of a connection: who holds it since when, for the hold-time watchdog. */
export interface Loan {
  readonly since: number
  /** A request id or `transaction <id>`. */
  holder: string | undefined
  /** The watchdog already warned about this borrow. */
  warned: boolean
  readonly ticket: Ticket
}

/**
 * A pool of PostgreSQL connections for one tenant. Its parts are free functions of the pool
 * in files of their own (./opening.ts, ./waiters.ts, ./lending.ts, ./health.ts,
 * ./pending-resets.ts, ./pausing.ts, ./closing.ts), for one concept per file at no cost per
 * borrow, which is why the state they use is not private: only those files touch it;
 * everything else uses the methods below.
 */
export class Pool {
  readonly options: PoolOptions
  readonly idle: Connection[] = []
  readonly busy = new Map<Connection, Loan>()
  /** Session resets still running on connections already handed back (see release()). */
  readonly resets = new Map<Connection, Promise<void>>()
  /** Borrowed connections, and connections being opened: what closing the pool waits for. */
  readonly loans = new InFlight()
  readonly opening = new InFlight()
  waiters: Waiter[] = []
  connecting = 0
  closed = false
  refillDelay = 100
  refillTimer: ReturnType<typeof setTimeout> | undefined
  readonly maintenance: ReturnType<typeof setInterval>
  readonly counters = emptyStats()
  /** Set once closing began (./closing.ts): what every later close() returns. */
  closing: Promise<void> | undefined
  /** Set while paused; `settle` wakes those waiting for in-flight work to finish. */
  pausing: { settled: Promise<void>; settle: () => void } | undefined
  min: number
  max: number
  /** PostgreSQL's last refusal for want of slots, while it stands (cleared by an open). */
  refused: string | undefined
  slotRetryMs = SLOT_RETRY_MS
  slotTimer: ReturnType<typeof setTimeout> | undefined
  /** The waiters' one deadline timer, and when it fires (see armWaitTimer). */
  waitTimer: ReturnType<typeof setTimeout> | undefined
  waitTimerAt = 0

  constructor(options: PoolOptions) {
    this.options = options
    this.min = options.min
    this.max = options.max
    const tickMs = Math.min(
      Math.max((Math.min(options.maxIdleSeconds, options.maxLifetimeSeconds) * 1000) / 4, 250),
      options.holdWarningMs / 2,
      30_000,
    )
    this.maintenance = setInterval(() => maintain(this), tickMs)
    this.maintenance.unref()
  }

  /** Connections open or being opened. */
  get size(): number {
    return this.idle.length + this.busy.size + this.connecting
  }

  /** The most connections this pool opens now. */
  get maxSize(): number {
    return this.max
  }

  /**
   * New bounds, as a cluster's membership changes this process's share. Growing opens
   * connections for waiters and up to the new `min`; shrinking closes idle connections
   * above the new `max` now, and borrowed ones as they come back.
   */
  resize(bounds: { min: number; max: number }): void {
    this.max = bounds.max
    this.min = Math.min(bounds.min, bounds.max)
    while (this.size > this.max && this.idle.length > 0) {
      this.counters.connectionsClosed++
      void drop(this, this.idle.shift()!)
    }
    grow(this)
    refill(this)
  }

  /** Paused: new acquires wait until {@link resume}, as with PgBouncer's PAUSE. */
  get paused(): boolean {
    return this.pausing !== undefined
  }

  /**
   * Opens the `min` connections; resolves when they are open or failed. A pool paused before
   * it starts opens none (resume opens them).
   */
  async start(): Promise<void> {
    const opening: Promise<void>[] = []
    while (!this.pausing && this.size < this.min) opening.push(open(this))
    await Promise.all(opening)
  }

  /**
   * Borrows a connection. Rejects with POOL_QUEUE_FULL at once when `maxWaiting` requests
   * already wait, POOL_TIMEOUT after `acquireTimeoutMs`, DB_UNAVAILABLE when a needed
   * connection cannot be opened, or the signal's reason when it aborts.
   */
  async acquire(signal?: AbortLike, holder?: string): Promise<Connection> {
    if (this.closed) throw shuttingDown()
    this.counters.requestsNum++
    const started = performance.now()
    const { maxWaiting, acquireTimeoutMs } = this.options
    const deadline = Date.now() + acquireTimeoutMs
    // Set once it queued: a request whose connection's reset failed waits again, counted
    // once, within its one deadline, and ahead of the requests that came after it.
    let queuedOnce = false
    for (;;) {
      while (!this.pausing && this.waiters.length === 0 && this.idle.length > 0) {
        const connection = this.idle.pop()!
        lend(this, connection, holder)
        if (readyNow(this, connection)) {
          this.options.onEvent?.({ type: 'acquired', waitMs: performance.now() - started })
          return connection
        }
        // Only a health check, which may take up to the check timeout, races the deadline: a
        // timer per borrow that merely waits for its reset would cost the hot path.
        const ready = checkDue(this, connection, Date.now())
          ? await checked(this, connection, deadline, signal)
          : await usable(this, connection)
        if (ready === true) {
          this.options.onEvent?.({ type: 'acquired', waitMs: performance.now() - started })
          return connection
        }
        if (ready === 'gave-up') {
          if (signal?.aborted) throw clientClosed()
          this.counters.requestsErrors++
          throw new SluiceError('POOL_TIMEOUT', timeoutMessage(this, acquireTimeoutMs), {
            retryable: true,
          })
        }
      }
      if (!queuedOnce && maxWaiting > 0 && queued(this) >= maxWaiting) {
        this.counters.requestsErrors++
        throw new SluiceError(
          'POOL_QUEUE_FULL',
          `${this.waiters.length} requests already wait for a connection`,
          { retryable: true },
        )
      }
      if (signal?.aborted) throw clientClosed()
      if (queuedOnce && Date.now() >= deadline) {
        this.counters.requestsErrors++
        throw new SluiceError('POOL_TIMEOUT', timeoutMessage(this, acquireTimeoutMs), {
          retryable: true,
        })
      }
      if (!queuedOnce) this.counters.requestsQueued++
      const lent = await waitFor(this, signal, holder, deadline, queuedOnce)
      if (!this.resets.has(lent) || (await resetDone(this, lent))) {
        this.options.onEvent?.({ type: 'acquired', waitMs: performance.now() - started })
        return lent
      }
      // Its reset failed and it was retired (a new connection opens for this request).
      if (this.closed) throw shuttingDown()
      queuedOnce = true
    }
  }

  /**
   * Returns a borrowed connection. Its session is reset first; a broken, cancelled,
   * expired or discarded one is closed and replaced. Safe to call twice.
   */
  release(connection: Connection, options: { discard?: boolean } = {}): void {
    const loan = this.busy.get(connection)
    if (!loan) return
    connection.lastUsedAt = Date.now()
    this.options.onEvent?.({ type: 'released', heldMs: connection.lastUsedAt - loan.since })
    if (connection.broken || connection.transactionStatus !== 'I') this.counters.returnsBad++
    if (options.discard || connection.broken || connection.cancelled || this.closed) {
      retire(this, connection, 'discarded', options.discard === true)
      return
    }
    if (connection.lastUsedAt >= connection.expiresAt) {
      retire(this, connection, 'lifetime')
      return
    }
    // Every borrow ends with a reset (./session-reset.ts), whatever the borrower ran. The
    // connection is handed back at once; the next borrower waits for the reset to finish
    // (resetDone) before it gets it, so no statement can run ahead of the reset, and the
    // pool does not open a second connection for a client that asks again right away.
    this.counters.sessionResets++
    if (resetAnswered(connection)) {
      handBack(this, connection)
      return
    }
    startReset(this, connection)
    handBack(this, connection)
  }

  /**
   * Pauses the pool with PgBouncer's PAUSE semantics (./pausing.ts): new acquires wait;
   * borrowed connections finish their work and are then closed, as idle ones are at once.
   * Resolves when nothing is borrowed any more.
   */
  pause(): Promise<void> {
    return pausePool(this)
  }

  /** Ends a pause: waiting requests get connections again and `min` reopen. */
  resume(): void {
    resumePool(this)
  }

  /** Names who holds a borrowed `connection` now, for the hold-time watchdog's warnings. */
  relabel(connection: Connection, holder: string): void {
    const loan = this.busy.get(connection)
    if (loan) loan.holder = holder
  }

  /**
   * Resolves `true` once no connection is borrowed, or `false` after `timeoutMs`: a
   * replaced pool waits for its open transactions before it closes.
   */
  drained(timeoutMs: number): Promise<boolean> {
    return this.loans.idle(timeoutMs)
  }

  /** psycopg_pool's get_stats(), plus the current longest wait. */
  stats(): PoolStats {
    const now = Date.now()
    return {
      ...this.counters,
      poolMin: this.min,
      poolMax: this.max,
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
    return closePool(this)
  }

  /**
   * Closes every connection now, borrowed or not: running statements are cancelled in
   * PostgreSQL first, so nothing keeps running on the server after the socket closes.
   */
  destroy(): Promise<void> {
    return destroyPool(this)
  }
}
