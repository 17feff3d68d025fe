/**
 * The tenant pool: psycopg_pool's knobs on top of pg's Client. Keeps `min` connections
 * open, never more than `max`, queues requests with a timeout and a cap, recycles by age
 * and idleness, health-checks connections that sat idle, and hands out only clean
 * sessions (see ./session-reset.ts). Its bounds may change while it runs (a worker's share
 * of a cluster's budget, server/cluster/), and PostgreSQL refusing a connection for want of
 * slots (`too many connections for role`, a role's CONNECTION LIMIT) makes requests wait
 * for one, as a full pool does, rather than fail.
 */
import { SluiceError, isSluiceError } from '../../src/errors.js'
import type { PoolConfig } from '../config/schema.js'
import { clientClosed, databaseUnreachable, shuttingDown } from '../errors.js'
import type { AbortLike } from '../lifecycle/abort.js'
import { InFlight, type Ticket } from '../lifecycle/in-flight.js'
import type { Connection } from './connection.js'
import { resetAnswered, resetSession } from './session-reset.js'
import { emptyStats, type PoolStats } from './stats.js'

/** Something that happened to a pool's connections, for logs and metrics. */
export type PoolEvent =
  | { type: 'opened'; pid: number; ms: number }
  | { type: 'connect-failed'; error: unknown }
  | { type: 'lost'; pid: number }
  | { type: 'recycled'; pid: number; reason: 'lifetime' | 'idle' | 'discarded' | 'reset-failed' }
  | { type: 'health-check-failed'; pid: number }
  /** A request got a connection after waiting `waitMs` (0 when one was idle). */
  | { type: 'acquired'; waitMs: number }
  | { type: 'paused' }
  | { type: 'resumed' }
  /** A borrower gave a connection back after holding it `heldMs` (psycopg_pool's usage_ms). */
  | { type: 'released'; heldMs: number }
  | { type: 'held-too-long'; pid: number; ms: number; holder: string | undefined }

/** Options of {@link Pool}. */
export interface PoolOptions extends PoolConfig {
  /** Opens one connection; rejects when PostgreSQL cannot be reached. */
  connect: () => Promise<Connection>
  /** How long a health check may take before the connection counts as broken. */
  checkTimeoutMs?: number
  onEvent?: (event: PoolEvent) => void
}

interface Waiter {
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

/** One borrow of a connection: who holds it since when, for the hold-time watchdog. */
interface Loan {
  readonly since: number
  /** A request id or `transaction <id>`. */
  holder: string | undefined
  /** The watchdog already warned about this borrow. */
  warned: boolean
  readonly ticket: Ticket
}

const REFILL_MAX_DELAY_MS = 10_000
/** PostgreSQL's too_many_connections: the role's CONNECTION LIMIT, or max_connections. */
const TOO_MANY_CONNECTIONS = '53300'
/** How soon to try again after PostgreSQL refused a connection for want of slots. */
const SLOT_RETRY_MS = 50
const SLOT_RETRY_MAX_MS = 1000

function isTooManyConnections(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === TOO_MANY_CONNECTIONS
}

/** A pool of PostgreSQL connections for one tenant. */
export class Pool {
  private readonly options: PoolOptions
  private readonly idle: Connection[] = []
  private readonly busy = new Map<Connection, Loan>()
  /** Session resets still running on connections already handed back (see release()). */
  private readonly resets = new Map<Connection, Promise<void>>()
  /** Borrowed connections, and connections being opened: what closing the pool waits for. */
  private readonly loans = new InFlight()
  private readonly opening = new InFlight()
  private waiters: Waiter[] = []
  private connecting = 0
  private closed = false
  private refillDelay = 100
  private refillTimer: ReturnType<typeof setTimeout> | undefined
  private readonly maintenance: ReturnType<typeof setInterval>
  private readonly counters = emptyStats()
  private closing: Promise<void> | undefined
  /** Set while paused; `settle` wakes those waiting for in-flight work to finish. */
  private pausing: { settled: Promise<void>; settle: () => void } | undefined
  private min: number
  private max: number
  /** PostgreSQL's last refusal for want of slots, while it stands (cleared by an open). */
  private refused: string | undefined
  private slotRetryMs = SLOT_RETRY_MS
  private slotTimer: ReturnType<typeof setTimeout> | undefined
  /** The waiters' one deadline timer, and when it fires (see armWaitTimer). */
  private waitTimer: ReturnType<typeof setTimeout> | undefined
  private waitTimerAt = 0

  constructor(options: PoolOptions) {
    this.options = options
    this.min = options.min
    this.max = options.max
    const tickMs = Math.min(
      Math.max((Math.min(options.maxIdleSeconds, options.maxLifetimeSeconds) * 1000) / 4, 250),
      options.holdWarningMs / 2,
      30_000,
    )
    this.maintenance = setInterval(() => this.maintain(), tickMs)
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
      void this.idle.shift()!.close()
    }
    this.grow()
    this.refill()
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
    while (!this.pausing && this.size < this.min) opening.push(this.open())
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
    while (!this.pausing && this.waiters.length === 0 && this.idle.length > 0) {
      const connection = this.idle.pop()!
      this.lend(connection, holder)
      if (this.readyNow(connection)) {
        this.options.onEvent?.({ type: 'acquired', waitMs: performance.now() - started })
        return connection
      }
      // Only a health check, which may take up to the check timeout, races the deadline: a
      // timer per borrow that merely waits for its reset would cost the hot path.
      const usable =
        Date.now() - connection.lastUsedAt >= this.options.healthCheckAfterIdleMs
          ? await this.checked(connection, deadline, signal)
          : await this.usable(connection)
      if (usable === true) {
        this.options.onEvent?.({ type: 'acquired', waitMs: performance.now() - started })
        return connection
      }
      if (usable === 'gave-up') {
        if (signal?.aborted) throw clientClosed()
        this.counters.requestsErrors++
        throw new SluiceError('POOL_TIMEOUT', this.timeoutMessage(acquireTimeoutMs), {
          retryable: true,
        })
      }
    }
    if (maxWaiting > 0 && this.queued() >= maxWaiting) {
      this.counters.requestsErrors++
      throw new SluiceError(
        'POOL_QUEUE_FULL',
        `${this.waiters.length} requests already wait for a connection`,
        { retryable: true },
      )
    }
    if (signal?.aborted) throw clientClosed()
    this.counters.requestsQueued++
    const lent = await new Promise<Connection>((resolve, reject) => {
      const waiter: Waiter = {
        resolve: (connection) => {
          this.options.onEvent?.({ type: 'acquired', waitMs: performance.now() - started })
          resolve(connection)
        },
        reject,
        since: Date.now(),
        deadline: Date.now() + acquireTimeoutMs,
        timeoutMs: acquireTimeoutMs,
        holder,
        signal,
        onAbort: undefined,
      }
      if (signal) {
        waiter.onAbort = () => {
          this.removeWaiter(waiter)
          reject(clientClosed())
        }
        signal.addEventListener('abort', waiter.onAbort, { once: true })
      }
      this.waiters.push(waiter)
      this.armWaitTimer(waiter.deadline)
      this.grow()
    })
    if (!this.resets.has(lent) || (await this.resetDone(lent))) return lent
    // Its reset failed and it was retired: ask again (a new connection opens for this).
    return this.acquire(signal, holder)
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
      this.retire(connection, 'discarded')
      return
    }
    if (connection.lastUsedAt >= connection.expiresAt) {
      this.retire(connection, 'lifetime')
      return
    }
    // Every borrow ends with a reset (./session-reset.ts), whatever the borrower ran. The
    // connection is handed back at once; the next borrower waits for the reset to finish
    // (resetDone) before it gets it, so no statement can run ahead of the reset, and the
    // pool does not open a second connection for a client that asks again right away.
    this.counters.sessionResets++
    if (resetAnswered(connection)) {
      this.handBack(connection)
      return
    }
    // A reset that gets no answer (a network gone silent) must not hold the next borrower
    // for ever: past the check timeout the connection is given up, as a failed check is.
    const timeoutMs = this.options.checkTimeoutMs ?? 5000
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
        this.resets.delete(connection)
      },
      (error: unknown) => {
        clearTimeout(timer)
        this.resets.delete(connection)
        connection.broken = true
        // Nobody holds it: retire it now. A borrower waiting on it retires it itself.
        if (this.idle.includes(connection)) this.retire(connection, 'reset-failed')
        throw error
      },
    )
    reset.catch(() => {})
    this.resets.set(connection, reset)
    this.handBack(connection)
  }

  /**
   * Waits for the reset of a connection just lent, if one still runs; a failed reset
   * retires the connection and answers false.
   */
  private async resetDone(connection: Connection): Promise<boolean> {
    const reset = this.resets.get(connection)
    if (reset === undefined) return true
    try {
      await reset
      return true
    } catch {
      this.retire(connection, 'reset-failed')
      return false
    }
  }

  /**
   * Pauses the pool with PgBouncer's PAUSE semantics: new acquires wait (until resumed, or
   * TENANT_PAUSED after `acquireTimeoutMs`); borrowed connections finish their work and are
   * then closed, as idle ones are at once. Resolves when nothing is borrowed any more.
   */
  pause(): Promise<void> {
    if (!this.pausing) {
      let settle!: () => void
      const settled = new Promise<void>((resolve) => (settle = resolve))
      this.pausing = { settled, settle }
      this.options.onEvent?.({ type: 'paused' })
      for (const connection of this.idle.splice(0)) {
        this.counters.connectionsClosed++
        void connection.close()
      }
      this.checkPaused()
    }
    return this.pausing.settled
  }

  /** Ends a pause: waiting requests get connections again and `min` reopen. */
  resume(): void {
    if (!this.pausing) return
    this.pausing.settle()
    this.pausing = undefined
    this.options.onEvent?.({ type: 'resumed' })
    this.grow()
    this.refill()
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
    if (this.closing) return this.closing
    this.closed = true
    this.pausing?.settle()
    clearInterval(this.maintenance)
    clearTimeout(this.refillTimer)
    clearTimeout(this.slotTimer)
    clearTimeout(this.waitTimer)
    for (const waiter of this.waiters.splice(0)) {
      this.settle(waiter)
      waiter.reject(shuttingDown())
    }
    // Idle connections run nothing: one that does not close within the check timeout sits
    // behind a silent network, and is dropped rather than waited for.
    const closing = this.idle.splice(0).map((c) => c.close(this.options.checkTimeoutMs ?? 5000))
    this.closing = (async () => {
      await Promise.all([...closing, this.loans.idle(), this.opening.idle()])
    })()
    return this.closing
  }

  /**
   * Closes every connection now, borrowed or not: running statements are cancelled in
   * PostgreSQL first, so nothing keeps running on the server after the socket closes.
   */
  async destroy(): Promise<void> {
    const closing = this.close()
    await Promise.all(
      [...this.busy.keys()].map(async (c) => {
        await c.cancel()
        await c.close()
      }),
    )
    await closing
  }

  /**
   * The waiters no connection is coming for: beyond those being opened and those the pool
   * may still open (none while paused). A burst below `max` is not a queue, so it never
   * meets `maxWaiting`.
   */
  private queued(): number {
    const coming = this.pausing ? 0 : this.connecting + Math.max(this.max - this.size, 0)
    return this.waiters.length - coming
  }

  /** Usable with nothing to wait for: no reset still running, no health check due. */
  private readyNow(connection: Connection): boolean {
    if (this.resets.has(connection) || connection.broken) return false
    const now = Date.now()
    return (
      now < connection.expiresAt &&
      now - connection.lastUsedAt < this.options.healthCheckAfterIdleMs
    )
  }

  /**
   * {@link usable}, within the borrower's acquire deadline and its signal: checks of silent
   * connections (each up to the check timeout) must not hold a request past
   * `acquireTimeoutMs`, nor one whose client left. A borrower that gives up leaves the check
   * running: it retires a broken connection, and a healthy one goes to the next borrower.
   */
  private async checked(
    connection: Connection,
    deadline: number,
    signal: AbortLike | undefined,
  ): Promise<boolean | 'gave-up'> {
    const check = this.usable(connection)
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
        if (healthy) this.handBack(connection)
      })
    return outcome
  }

  private async usable(connection: Connection): Promise<boolean> {
    if (!(await this.resetDone(connection))) return false
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
    this.endLoan(connection)
    if (this.closed || connection.broken) {
      void connection.close()
      this.checkPaused()
      return
    }
    this.dispatch(connection)
  }

  /** Gives a fresh connection to the longest waiter, or parks it idle. */
  private dispatch(connection: Connection): void {
    if (this.pausing) {
      // PAUSE closes connections once their work is done, so the database may go away.
      this.counters.connectionsClosed++
      void connection.close()
      this.checkPaused()
      return
    }
    // `size` counts the others only: this one is neither idle nor lent at this point.
    if (this.size >= this.max) {
      // Above a bound that shrank: this one goes, and a waiter gets the next.
      this.counters.connectionsClosed++
      void connection.close()
      this.grow()
      return
    }
    const waiter = this.waiters.shift()
    if (!waiter) {
      this.idle.push(connection)
      return
    }
    this.settle(waiter)
    this.counters.requestsWaitMs += Date.now() - waiter.since
    this.lend(connection, waiter.holder)
    waiter.resolve(connection)
  }

  private lend(connection: Connection, holder: string | undefined): void {
    this.busy.set(connection, {
      since: Date.now(),
      holder,
      warned: false,
      ticket: this.loans.begin(),
    })
  }

  private endLoan(connection: Connection): void {
    this.busy.get(connection)?.ticket.end()
    this.busy.delete(connection)
  }

  private settle(waiter: Waiter): void {
    if (waiter.onAbort) waiter.signal?.removeEventListener('abort', waiter.onAbort)
  }

  /**
   * One timer for every waiter's deadline, rather than one per waiter (a timer set and
   * cleared per request showed in the gateway's profile): armed for the earliest deadline,
   * it fails the waiters whose time is up and arms itself again for the next.
   */
  private armWaitTimer(deadline: number): void {
    if (this.waitTimer !== undefined && this.waitTimerAt <= deadline) return
    clearTimeout(this.waitTimer)
    this.waitTimerAt = deadline
    this.waitTimer = setTimeout(this.expireWaiters, Math.max(deadline - Date.now(), 1))
    // It may outlive the last waiter (it is not cleared per request): it must not keep the
    // process alive by itself.
    this.waitTimer.unref()
  }

  private readonly expireWaiters = (): void => {
    this.waitTimer = undefined
    const now = Date.now()
    let next = Infinity
    for (const waiter of [...this.waiters]) {
      if (waiter.deadline > now) {
        next = Math.min(next, waiter.deadline)
        continue
      }
      this.removeWaiter(waiter)
      this.counters.requestsErrors++
      waiter.reject(
        this.pausing
          ? new SluiceError(
              'TENANT_PAUSED',
              `the tenant is paused by the operator and stayed paused for ${waiter.timeoutMs} ms`,
              { retryable: true },
            )
          : new SluiceError('POOL_TIMEOUT', this.timeoutMessage(waiter.timeoutMs), {
              retryable: true,
            }),
      )
    }
    if (next !== Infinity) this.armWaitTimer(next)
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
    this.endLoan(connection)
    const index = this.idle.indexOf(connection)
    if (index >= 0) this.idle.splice(index, 1)
    this.options.onEvent?.({ type: 'recycled', pid: connection.pid, reason })
    this.counters.connectionsClosed++
    void connection.close()
    this.grow()
    this.refill()
    this.checkPaused()
  }

  /** Wakes those awaiting {@link pause} once nothing is borrowed or being opened. */
  private checkPaused(): void {
    if (this.pausing && this.busy.size === 0 && this.connecting === 0) this.pausing.settle()
  }

  /** Opens connections for waiters, up to `max`. */
  private grow(): void {
    while (
      !this.closed &&
      !this.pausing &&
      this.waiters.length > this.connecting &&
      this.size < this.max &&
      this.slotTimer === undefined
    )
      void this.open()
  }

  /** Keeps `min` connections open. */
  private refill(): void {
    while (!this.closed && !this.pausing && this.size < this.min && this.slotTimer === undefined)
      void this.open()
  }

  /** POOL_TIMEOUT's message: why no connection came, when PostgreSQL said why. */
  private timeoutMessage(acquireTimeoutMs: number): string {
    const base = `no connection became free within ${acquireTimeoutMs} ms`
    if (this.max === 0)
      return `${base}: this process's share of the tenant's pool is 0 connections (pool.max is divided among the cluster's nodes and workers: raise it)`
    if (this.refused !== undefined)
      return `${base} (PostgreSQL refused more connections: ${this.refused})`
    return base
  }

  /**
   * PostgreSQL has no slot for another connection (the role's CONNECTION LIMIT, or
   * max_connections): the waiters keep waiting, for a connection coming back here or a
   * slot freed elsewhere, which is tried for again after a short backoff.
   */
  private waitForSlot(error: unknown): void {
    this.refused = error instanceof Error ? error.message : String(error)
    if (this.slotTimer !== undefined || this.closed) return
    this.slotTimer = setTimeout(() => {
      this.slotTimer = undefined
      this.grow()
      this.refill()
    }, this.slotRetryMs)
    this.slotTimer.unref()
    this.slotRetryMs = Math.min(this.slotRetryMs * 2, SLOT_RETRY_MAX_MS)
  }

  private async open(): Promise<void> {
    const ticket = this.opening.begin()
    try {
      await this.openOne()
    } finally {
      ticket.end()
    }
  }

  private async openOne(): Promise<void> {
    this.connecting++
    this.counters.connectionsNum++
    const started = Date.now()
    let connection: Connection
    try {
      connection = await this.options.connect()
    } catch (error) {
      this.connecting--
      this.counters.connectionsErrors++
      // Told once per spell of refusals for want of slots: they are retried often.
      const slots = isTooManyConnections(error)
      if (!slots || this.refused === undefined)
        this.options.onEvent?.({ type: 'connect-failed', error })
      this.checkPaused()
      if (slots) this.waitForSlot(error)
      else {
        this.failOneWaiter(error)
        this.scheduleRefill()
      }
      return
    }
    this.connecting--
    this.refillDelay = 100
    this.refused = undefined
    this.slotRetryMs = SLOT_RETRY_MS
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
    // The gateway's own refusal (a privileged role, say) says why; anything else is the link.
    waiter.reject(isSluiceError(error) ? error : databaseUnreachable(error))
    this.grow()
  }

  private lost(connection: Connection): void {
    if (this.closed) return
    const index = this.idle.indexOf(connection)
    // A borrowed connection's loss is seen by its borrower, which then discards it: counted
    // there (returnsBad, or a failed health check), not here too.
    if (index < 0 && !this.busy.has(connection)) return
    this.options.onEvent?.({ type: 'lost', pid: connection.pid })
    if (index >= 0) {
      this.counters.connectionsLost++
      this.idle.splice(index, 1)
      this.counters.connectionsClosed++
      this.refill()
    }
  }

  private scheduleRefill(): void {
    if (this.closed || this.refillTimer || this.size >= this.min) return
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
    for (const [connection, loan] of this.busy) {
      const held = now - loan.since
      if (!loan.warned && held >= this.options.holdWarningMs) {
        loan.warned = true
        this.options.onEvent?.({
          type: 'held-too-long',
          pid: connection.pid,
          ms: held,
          holder: loan.holder,
        })
      }
    }
    const maxIdleMs = this.options.maxIdleSeconds * 1000
    // The stack's bottom holds the longest-idle connections.
    for (const connection of [...this.idle]) {
      if (now >= connection.expiresAt) this.retire(connection, 'lifetime')
      else if (now - connection.lastUsedAt >= maxIdleMs && this.size > this.min)
        this.retire(connection, 'idle')
    }
    this.refill()
  }
}
