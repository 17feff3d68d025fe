/**
 * Interactive transactions: each holds one pooled connection between HTTP requests. An id
 * is unguessable and only works with the token that opened it. The registry rolls a
 * transaction back and returns its connection when it idles too long, runs too long, or the
 * gateway shuts down; a later request for it gets TX_NOT_FOUND saying why.
 */
import { randomBytes } from 'node:crypto'
import { SluiceError, TX_ABORTED_NOTE } from '../../src/errors.js'
import type {
  BeginRequest,
  BeginResult,
  EndResult,
  QueryRequest,
  QueryResult,
} from '../../src/protocol.js'
import { toSluiceError } from './db-error.js'
import {
  beginSql,
  checkStatement,
  effectiveTimeout,
  execute,
  rollbackQuietly,
  type RunContext,
} from './run.js'
import { deadlinePassed, withCancellation } from './cancellation.js'
import { streamOn, type StreamSink, type StreamSummary } from './stream.js'
import { settled, watchWrites } from './cache-writes.js'
import { clientClosed } from '../errors.js'
import { InFlight, type Ticket } from '../lifecycle/in-flight.js'
import type { Connection } from '../pool/connection.js'
import { OpenTransaction, transactionNotFound } from './open-transaction.js'

/** Why a transaction ended whose client went away during (or before) a statement. */
const CLIENT_LEFT = 'it was cancelled: its client went away during a statement'

/** Why a transaction ended whose token a reload gave another tenant or role. */
const ACCESS_CHANGED = "it was rolled back: a config reload changed its token's tenant or role"

/** How many ended ids are remembered, to say why a transaction is gone. */
const TOMBSTONES = 10_000

/** How an ended transaction ended, and for whom that may be said. */
interface Tombstone {
  tokenHash: string
  how: string
}

/** Options of {@link TransactionRegistry}. */
export interface TransactionRegistryOptions {
  /**
   * Makes the id of a transaction begun by the token with this hash: unguessable, and
   * naming its owner in a gateway of several processes (server/cluster/transaction-id.ts).
   * @default 192 random bits
   */
  newId?: (tokenHash: string) => string
}

/** The open transactions of a gateway, across tenants. */
export class TransactionRegistry {
  private readonly newId: (tokenHash: string) => string
  private readonly open = new Map<string, OpenTransaction>()
  /** One ticket per open transaction, for {@link settled}. */
  private readonly tickets = new Map<string, Ticket>()
  private readonly inFlight = new InFlight()
  private readonly ended = new Map<string, Tombstone>()
  private readonly perTenant = new Map<string, number>()

  constructor(options: TransactionRegistryOptions = {}) {
    this.newId = options.newId ?? (() => randomBytes(24).toString('base64url'))
  }

  /** Open transactions, of one tenant or all. */
  count(tenant?: string): number {
    return tenant === undefined ? this.open.size : (this.perTenant.get(tenant) ?? 0)
  }

  /** `POST /v1/transactions`. */
  async begin(context: RunContext, request: BeginRequest): Promise<BeginResult> {
    const { tenant, principal } = context
    const limits = tenant.config.transactions
    // pool.maxSize: this process's share of pool.max when the pool is divided (workers, nodes).
    const cap = Math.floor(tenant.pool.maxSize * limits.maxOpenShare)
    if (this.count(tenant.name) >= cap) {
      throw new SluiceError(
        'TX_LIMIT_REACHED',
        `tenant ${tenant.name} already has ${this.count(tenant.name)} open transactions (the cap is transactions.maxOpenShare × ${tenant.pool.maxSize === tenant.config.pool.max ? 'pool.max' : `this process's share of pool.max, ${tenant.pool.maxSize},`} = ${cap})`,
        { retryable: true },
      )
    }
    const idleTimeoutMs = Math.min(
      request.idleTimeoutMs ?? limits.idleTimeoutMs,
      limits.maxIdleTimeoutMs,
    )
    const timeoutMs = Math.min(request.timeoutMs ?? limits.timeoutMs, limits.maxTimeoutMs)
    const readOnly = principal.role === 'readonly' || request.readOnly === true
    // Counted before the connection is borrowed, so concurrent begins respect the cap.
    this.adjust(tenant.name, 1)
    let connection: Connection
    try {
      connection = await tenant.pool.acquire(context.signal, context.requestId)
    } catch (error) {
      this.adjust(tenant.name, -1)
      throw error
    }
    try {
      await withCancellation(connection, tenant.config.statementTimeoutMs, context, () =>
        connection.simple(beginSql(request, readOnly)),
      )
      if (context.signal?.aborted) throw clientClosed()
    } catch (error) {
      this.adjust(tenant.name, -1)
      await rollbackQuietly(connection)
      tenant.pool.release(connection)
      throw toSluiceError(error)
    }
    const tx = new OpenTransaction(
      this.newId(principal.tokenHash),
      tenant,
      principal.tokenHash,
      principal.role,
      connection,
      idleTimeoutMs,
      timeoutMs,
      (t, reason) => void t.serial(() => this.finish(t, 'rollback', reason), true).catch(() => {}),
      readOnly,
    )
    tenant.pool.relabel(connection, `transaction ${tx.id}`)
    this.open.set(tx.id, tx)
    this.tickets.set(tx.id, this.inFlight.begin())
    return { id: tx.id, expiresAt: new Date(tx.expiresAt).toISOString() }
  }

  /** `POST /v1/transactions/{id}/query`. */
  query(context: RunContext, id: string, request: QueryRequest): Promise<QueryResult> {
    return this.statement(context, id, request, (tx) =>
      execute(
        tx.connection,
        { tenant: tx.tenant, statements: context.statements },
        request,
        tx.budget,
      ),
    )
  }

  /** `POST /v1/transactions/{id}/query` with `Accept: application/x-ndjson`. */
  stream(
    context: RunContext,
    id: string,
    request: QueryRequest,
    sink: StreamSink,
  ): Promise<StreamSummary> {
    return this.statement(context, id, request, (tx) =>
      streamOn(tx.connection, { tenant: tx.tenant, statements: context.statements }, request, sink),
    )
  }

  /** `POST /v1/transactions/{id}/commit`. */
  async commit(context: RunContext, id: string): Promise<EndResult> {
    const tx = this.lookup(context, id)
    return tx.serial(() => this.finish(tx, 'commit'))
  }

  /** `POST /v1/transactions/{id}/rollback`. */
  async rollback(context: RunContext, id: string): Promise<EndResult> {
    const tx = this.lookup(context, id)
    return tx.serial(() => this.finish(tx, 'rollback'))
  }

  /** Resolves `true` once no transaction is open, or `false` after `timeoutMs`. */
  settled(timeoutMs: number): Promise<boolean> {
    return this.inFlight.idle(timeoutMs)
  }

  /** Rolls back every open transaction (shutdown) and waits until their connections are back. */
  async closeAll(reason = 'it was rolled back: the gateway is shutting down'): Promise<void> {
    const all = [...this.open.values()]
    for (const tx of all) tx.expire(reason)
    await Promise.all(all.map((tx) => tx.idle()))
  }

  /** Runs one statement of a transaction: in turn, under its timeout, ending it when lost. */
  private async statement<T>(
    context: RunContext,
    id: string,
    request: QueryRequest,
    run: (tx: OpenTransaction) => Promise<T>,
  ): Promise<T> {
    const tx = this.lookup(context, id)
    checkStatement(request, {
      control: `end the transaction with POST /v1/transactions/${id}/commit or /rollback (SAVEPOINT, RELEASE and ROLLBACK TO run here)`,
    })
    // A cache-enabled writer's statements: what its commit invalidates (docs/cache.md).
    tx.statements?.add(request.sql)
    return tx.serial(async () => {
      // Its client left while it waited its turn: it must not run unseen (a write the
      // client cannot know of, kept by a later commit). A disconnect ends the transaction.
      if (context.signal?.aborted) {
        await this.finish(tx, 'rollback', CLIENT_LEFT)
        throw clientClosed()
      }
      const timeoutMs = effectiveTimeout(tx.tenant, request.timeoutMs)
      try {
        return await withCancellation(tx.connection, timeoutMs, context, async (deadline) => {
          const result = await run(tx)
          // A cancel sent as the statement finished may still land, and a connection once
          // cancelled is never cancelled again (withCancellation): the transaction could
          // run on with no deadline. It ends, as when the cancel wins the race.
          if (tx.connection.cancelled)
            throw context.signal?.aborted && !deadline.passed ? clientClosed() : deadlinePassed()
          return result
        })
      } catch (error) {
        const failure = toSluiceError(error)
        // A cancelled or lost connection is never reused: the transaction ends with it. (pg
        // may reject the statement before the socket's 'end' marks the connection broken.)
        const lost = failure.code === 'DB_UNAVAILABLE'
        // A timeout ends the transaction whichever clock fired: the tenant's cap is both the
        // gateway's deadline and PostgreSQL's statement_timeout, and which comes first is a
        // race the client must not have to tell apart (a `SET LOCAL statement_timeout` too).
        const timedOut = failure.code === 'STATEMENT_TIMEOUT'
        if (tx.connection.cancelled || tx.connection.broken || lost || timedOut) {
          const how = context.signal?.aborted
            ? CLIENT_LEFT
            : `it was rolled back: its statement failed with ${failure.code}`
          await this.finish(tx, 'rollback', how)
          throw failure
        }
        if (
          failure.code === 'DATABASE_ERROR' ||
          failure.code === 'CONFLICT' ||
          failure.code === 'FORBIDDEN'
        ) {
          throw new SluiceError(failure.code, failure.message + TX_ABORTED_NOTE, {
            ...failure.fields,
            retryable: failure.retryable,
          })
        }
        throw failure
      }
    })
  }

  private lookup(context: RunContext, id: string): OpenTransaction {
    const tx = this.open.get(id)
    if (!tx || tx.tokenHash !== context.principal.tokenHash) {
      const tombstone = tx === undefined ? this.ended.get(id) : undefined
      // Only the token that began it learns that it existed, and how it ended.
      const mine = tombstone?.tokenHash === context.principal.tokenHash
      throw transactionNotFound(id, mine ? tombstone.how : undefined)
    }
    // A reload may move the token to another tenant or take its write access: what it began
    // before must not go on writing where the token may no longer (docs/operations.md).
    const { tenant, role } = context.principal
    if (tx.tenant.name !== tenant || tx.role !== role) {
      tx.expire(ACCESS_CHANGED)
      throw transactionNotFound(id, ACCESS_CHANGED)
    }
    return tx
  }

  private adjust(tenant: string, delta: number): void {
    this.perTenant.set(tenant, (this.perTenant.get(tenant) ?? 0) + delta)
  }

  /** Commits or rolls back, returns the connection and forgets the transaction. */
  private async finish(
    tx: OpenTransaction,
    how: 'commit' | 'rollback',
    reason?: string,
  ): Promise<EndResult> {
    if (this.open.get(tx.id) !== tx) return { committed: false }
    this.open.delete(tx.id)
    const ticket = this.tickets.get(tx.id)
    this.tickets.delete(tx.id)
    this.adjust(tx.tenant.name, -1)
    tx.stopTimers()
    // A COMMIT may still fail: what it did is told once it answered (see end()).
    tx.ending ??=
      reason ?? (how === 'commit' ? 'it is being committed' : 'it was rolled back by its client')
    this.ended.set(tx.id, { tokenHash: tx.tokenHash, how: tx.ending })
    if (this.ended.size > TOMBSTONES) this.ended.delete(this.ended.keys().next().value!)
    // What the transaction wrote is dropped from every cache once it committed (or may have).
    const watch =
      how === 'commit' ? watchWrites(tx.tenant, false, tx.statements?.sqls() ?? []) : undefined
    const result = this.end(tx, how, ticket)
    return watch ? settled(watch, result) : result
  }

  /** Tells later requests for `tx` how it ended, now that its COMMIT answered. */
  private retell(tx: OpenTransaction, how: string): void {
    tx.ending = how
    if (this.ended.has(tx.id)) this.ended.set(tx.id, { tokenHash: tx.tokenHash, how })
  }

  /** Runs the COMMIT or ROLLBACK and returns the connection. */
  private async end(
    tx: OpenTransaction,
    how: 'commit' | 'rollback',
    ticket: Ticket | undefined,
  ): Promise<EndResult> {
    const { connection, tenant } = tx
    try {
      if (how === 'rollback') {
        await rollbackQuietly(connection)
        return { committed: false }
      }
      // COMMIT runs deferred triggers and constraint checks, which may wait or loop: it is
      // a statement under the statement cap like any other (the caller may have turned
      // PostgreSQL's own statement_timeout off inside the transaction).
      const outcome = await withCancellation(connection, tenant.config.statementTimeoutMs, {}, () =>
        connection.run({ text: 'COMMIT', simple: true }),
      )
      if (outcome.command === 'ROLLBACK') {
        throw new SluiceError(
          'DATABASE_ERROR',
          'the transaction was aborted by an earlier error, so COMMIT rolled it back',
          { sqlstate: '25P02' },
        )
      }
      this.retell(tx, 'it was committed')
      return { committed: true }
    } catch (error) {
      await rollbackQuietly(connection)
      const failure = toSluiceError(error)
      if (how === 'commit') {
        this.retell(
          tx,
          failure.code === 'DB_UNAVAILABLE'
            ? 'its COMMIT lost the connection to the database, so whether it committed is unknown'
            : `it was rolled back: its COMMIT failed with ${failure.code}`,
        )
      }
      throw failure
    } finally {
      tenant.pool.release(connection)
      ticket?.end()
    }
  }
}
