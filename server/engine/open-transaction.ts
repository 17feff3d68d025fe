/**
 * One open interactive transaction: its connection, its timers, and the queue that runs
 * its operations one at a time (server/engine/transactions.ts keeps the open ones).
 */
import { SluiceError } from '../../src/errors.js'
import type { ByteBudget } from './run.js'
import { WrittenStatements } from './written-statements.js'
import type { Connection } from '../pool/connection.js'
import type { Tenant } from '../tenants/tenant.js'
import type { Role } from '../tenants/tokens.js'

/** An open transaction, from its BEGIN until it is committed or rolled back. */
export class OpenTransaction {
  readonly id: string
  readonly tenant: Tenant
  readonly tokenHash: string
  /** The role its token had at begin: a reload that changes it ends the transaction. */
  readonly role: Role
  readonly connection: Connection
  readonly expiresAt: number
  readonly idleTimeoutMs: number
  readonly budget: ByteBudget
  /** The statements it ran, for the cache to invalidate at commit (cache-enabled writers only). */
  readonly statements: WrittenStatements | undefined
  /** Why it is ending, once it is. */
  ending: string | undefined
  private chain: Promise<unknown> = Promise.resolve()
  private idleTimer: ReturnType<typeof setTimeout> | undefined
  private maxTimer: ReturnType<typeof setTimeout> | undefined
  private running = false

  constructor(
    id: string,
    tenant: Tenant,
    tokenHash: string,
    role: Role,
    connection: Connection,
    idleTimeoutMs: number,
    timeoutMs: number,
    private readonly onExpire: (tx: OpenTransaction, reason: string) => void,
    readOnly = false,
  ) {
    this.id = id
    this.tenant = tenant
    this.tokenHash = tokenHash
    this.role = role
    this.connection = connection
    this.idleTimeoutMs = idleTimeoutMs
    this.expiresAt = Date.now() + timeoutMs
    this.budget = { remaining: tenant.config.maxResultBytes }
    this.statements = tenant.cache && !readOnly ? new WrittenStatements() : undefined
    this.maxTimer = setTimeout(
      () =>
        this.expire(
          `it was rolled back after being open for its maximum duration (${timeoutMs} ms)`,
        ),
      timeoutMs,
    )
    this.armIdle()
  }

  /**
   * Runs operations one at a time, in arrival order. Once the transaction is ending, only
   * the gateway's own cleanup (`cleanup: true`) still runs.
   */
  serial<T>(operation: () => Promise<T>, cleanup = false): Promise<T> {
    const next = this.chain.then(async () => {
      if (this.ending !== undefined && !cleanup) throw transactionNotFound(this.id, this.ending)
      this.running = true
      clearTimeout(this.idleTimer)
      try {
        return await operation()
      } finally {
        this.running = false
        if (this.ending === undefined) this.armIdle()
      }
    })
    this.chain = next.catch(() => {})
    return next
  }

  /** Ends it from a timer or shutdown: cancels a running statement, then rolls back. */
  expire(reason: string): void {
    if (this.ending !== undefined) return
    this.ending = reason
    if (this.running) void this.connection.cancel()
    this.onExpire(this, reason)
  }

  stopTimers(): void {
    clearTimeout(this.idleTimer)
    clearTimeout(this.maxTimer)
  }

  /** Waits for the operation in progress, if any. */
  async idle(): Promise<void> {
    await this.chain
  }

  private armIdle(): void {
    clearTimeout(this.idleTimer)
    this.idleTimer = setTimeout(
      () =>
        this.expire(`it was rolled back after being idle for more than ${this.idleTimeoutMs} ms`),
      this.idleTimeoutMs,
    )
  }
}

/** TX_NOT_FOUND; `how` (how it ended) is told only to the token that began the transaction. */
export function transactionNotFound(id: string, how?: string): SluiceError {
  return new SluiceError(
    'TX_NOT_FOUND',
    how === undefined
      ? `no open transaction ${id} for this token`
      : `transaction ${id} is over: ${how}`,
  )
}
