/**
 * Kysely's driver over the Sluice client: each connection Kysely acquires sends its
 * statements to `/v1/query`, or, between `beginTransaction` and its end, into one
 * interactive transaction (`client.begin`). Savepoints are plain statements inside it.
 */
import {
  AbortedTransactionError,
  CompiledQuery,
  type DatabaseConnection,
  type Driver,
  type QueryResult,
  type TransactionSettings,
} from 'kysely'
import type { Client } from '../../client.js'
import { isDatabaseError } from '../../errors.js'
import type { Queryable } from '../../queryable.js'
import type { Streamable } from '../../stream.js'
import type { TransactionHandle } from '../../transaction.js'
import { asPostgresError, isTransactionGone } from '../postgres-error.js'
import type { SluiceDialectConfig } from './dialect.js'

// Commands whose count Kysely reports as numAffectedRows, as its Postgres driver does.
const AFFECTING = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE'])

/** One Kysely connection: no socket, just where its statements go. */
export class SluiceConnection implements DatabaseConnection {
  /** The open transaction, between `beginTransaction` and its commit or rollback. */
  transaction: TransactionHandle | undefined

  constructor(readonly client: Client) {}

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const target: Queryable = this.transaction ?? this.client
    try {
      const result = await target.query<R>(compiledQuery.sql, compiledQuery.parameters)
      return {
        rows: result.rows,
        ...(AFFECTING.has(result.command) && { numAffectedRows: BigInt(result.rowCount ?? 0) }),
      }
    } catch (error) {
      throw asPostgresError(error)
    }
  }

  /**
   * Yields the result in chunks of `chunkSize` rows. With a client that streams (from
   * `@sluice/client/stream`) and outside a transaction, rows are read as they arrive, so
   * memory stays flat; otherwise the whole result arrives at once (bounded by the tenant's
   * maxRows and maxResultBytes) and is cut into chunks.
   */
  async *streamQuery<R>(
    compiledQuery: CompiledQuery,
    chunkSize = 100,
  ): AsyncIterableIterator<QueryResult<R>> {
    if (!Number.isInteger(chunkSize) || chunkSize <= 0) {
      throw new Error('chunkSize must be a positive integer')
    }
    const { client } = this
    if (this.transaction === undefined && isStreamable(client)) {
      let rows: R[] = []
      try {
        for await (const row of client.stream<R>(compiledQuery.sql, compiledQuery.parameters)) {
          rows.push(row)
          if (rows.length === chunkSize) {
            yield { rows }
            rows = []
          }
        }
      } catch (error) {
        throw asPostgresError(error)
      }
      if (rows.length > 0) yield { rows }
      return
    }
    const { rows } = await this.executeQuery<R>(compiledQuery)
    for (let i = 0; i < rows.length; i += chunkSize) yield { rows: rows.slice(i, i + chunkSize) }
  }
}

/** True for a client from `@sluice/client/stream`, which can stream a result. */
function isStreamable(client: Client): client is Client & Streamable {
  return typeof (client as Partial<Streamable>).stream === 'function'
}

function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`
}

/** The driver {@link SluiceDialect} creates. */
export class SluiceDriver implements Driver {
  constructor(private readonly config: SluiceDialectConfig) {}

  async init(): Promise<void> {}

  async acquireConnection(): Promise<SluiceConnection> {
    return new SluiceConnection(this.config.client)
  }

  async beginTransaction(
    connection: SluiceConnection,
    settings: TransactionSettings,
  ): Promise<void> {
    const { isolationLevel, accessMode } = settings
    if (isolationLevel === 'snapshot') {
      throw new Error('PostgreSQL has no snapshot isolation level')
    }
    connection.transaction = await connection.client.begin({
      ...this.config.transaction,
      // PostgreSQL runs read uncommitted as read committed.
      isolation: isolationLevel === 'read uncommitted' ? 'read committed' : isolationLevel,
      readOnly: accessMode === undefined ? undefined : accessMode === 'read only',
    })
  }

  async commitTransaction(connection: SluiceConnection): Promise<void> {
    const transaction = this.end(connection)
    try {
      await transaction.commit()
    } catch (error) {
      // As Kysely's Postgres driver: a commit after a failed statement rolled back.
      if (isDatabaseError(error) && error.sqlstate === '25P02') throw new AbortedTransactionError()
      throw asPostgresError(error)
    }
  }

  async rollbackTransaction(connection: SluiceConnection): Promise<void> {
    const { transaction } = connection
    // Its commit failed (a serialization failure at COMMIT): the transaction is over, rolled
    // back, and Kysely's rollback that follows is a no-op, as PostgreSQL's ROLLBACK is then.
    if (!transaction) return
    connection.transaction = undefined
    // One the gateway already ended (timed out, cancelled) was rolled back.
    await transaction.rollback().catch((error: unknown) => {
      if (!isTransactionGone(error)) throw asPostgresError(error)
    })
  }

  async savepoint(connection: SluiceConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`savepoint ${quote(name)}`))
  }

  async rollbackToSavepoint(connection: SluiceConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`rollback to savepoint ${quote(name)}`))
  }

  async releaseSavepoint(connection: SluiceConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`release savepoint ${quote(name)}`))
  }

  async releaseConnection(connection: SluiceConnection): Promise<void> {
    // A connection released mid-transaction (Kysely never does) must not leak it into the next use.
    connection.transaction = undefined
  }

  async destroy(): Promise<void> {}

  private end(connection: SluiceConnection): TransactionHandle {
    const { transaction } = connection
    if (!transaction) throw new Error('no transaction is open on this connection')
    connection.transaction = undefined
    return transaction
  }
}
