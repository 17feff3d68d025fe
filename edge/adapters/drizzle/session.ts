/**
 * Drizzle's PostgreSQL session over the Sluice client, built on drizzle-orm's pg-core
 * classes as its own HTTP drivers are: statements go to `/v1/query`, `db.batch` to one
 * `/v1/batch`, and `db.transaction` into an interactive transaction, nested ones as
 * savepoints.
 */
import {
  DrizzleQueryError,
  entityKind,
  NoopLogger,
  sql,
  type Logger,
  type Query,
  type SQL,
} from 'drizzle-orm'
import type { BatchItem, BatchResponse } from 'drizzle-orm/batch'
import { NoopCache, type Cache } from 'drizzle-orm/cache/core'
import type { WithCacheConfig } from 'drizzle-orm/cache/core/types'
import {
  PgSession,
  PgTransaction,
  type PgDialect,
  type PgPreparedQuery,
  type PgQueryResultHKT,
  type PgTransactionConfig,
  type PreparedQueryConfig,
} from 'drizzle-orm/pg-core'
import type { RelationalSchemaConfig, TablesRelationalConfig } from 'drizzle-orm/relations'
import type { Client } from '../../client.js'
import type { Queryable } from '../../queryable.js'
import type { QueryResult } from '../../result.js'
import type { TransactionRunOptions } from '../../transaction.js'
import { asPostgresError, isTransactionGone } from '../postgres-error.js'
import {
  DRIZZLE_PARSERS,
  SluicePreparedQuery,
  type Fields,
  type QueryMetadata,
} from './prepared-query.js'

/** What `db.execute(sql…)` resolves to: the client's result. */
export type SluiceQueryResult<Row> = QueryResult<Row>

/** Drizzle's result type for Sluice. */
export interface SluiceQueryResultHKT extends PgQueryResultHKT {
  type: SluiceQueryResult<this['row']>
}

/** Options shared by the sessions of one database. */
export interface SluiceSessionOptions {
  logger?: Logger | undefined
  cache?: Cache | undefined
  /** The gateway's limits on each transaction. */
  transaction?: Pick<TransactionRunOptions, 'idleTimeoutMs' | 'timeoutMs'> | undefined
}

// A transaction's dialect and session are `@internal` in drizzle's published types.
interface TransactionInternals {
  dialect: PgDialect
  session: PgSession
}

/** A session: the client itself, or one transaction of it. */
export class SluiceSession<
  TFullSchema extends Record<string, unknown>,
  TSchema extends TablesRelationalConfig,
> extends PgSession<SluiceQueryResultHKT, TFullSchema, TSchema> {
  static override readonly [entityKind]: string = 'SluiceSession'
  private readonly logger: Logger
  private readonly cache: Cache

  constructor(
    /** The client, whose `transaction` and `batch` the top-level session uses. */
    private readonly client: Client,
    /** Where statements go: the client, or the open transaction. */
    private readonly target: Queryable,
    dialect: PgDialect,
    private readonly schema: RelationalSchemaConfig<TSchema> | undefined,
    private readonly options: SluiceSessionOptions = {},
  ) {
    super(dialect)
    this.logger = options.logger ?? new NoopLogger()
    this.cache = options.cache ?? new NoopCache()
  }

  prepareQuery<T extends PreparedQueryConfig = PreparedQueryConfig>(
    query: Query,
    fields: Fields,
    _name: string | undefined,
    isResponseInArrayMode: boolean,
    customResultMapper?: (rows: unknown[][]) => T['execute'],
    queryMetadata?: QueryMetadata,
    cacheConfig?: WithCacheConfig,
  ): PgPreparedQuery<T> {
    return new SluicePreparedQuery<T>(
      this.target,
      query,
      this.logger,
      this.cache,
      queryMetadata,
      cacheConfig,
      fields,
      isResponseInArrayMode,
      customResultMapper,
    )
  }

  /** Runs the queries in order in one `/v1/batch`: one transaction, all or nothing. */
  async batch<U extends BatchItem<'pg'>, T extends Readonly<[U, ...U[]]>>(
    queries: T,
  ): Promise<BatchResponse<T>> {
    const prepared = queries.map((query) =>
      (query as unknown as { _prepare(): SluicePreparedQuery<PreparedQueryConfig> })._prepare(),
    )
    const statements = prepared.map((query) => {
      const { sql: text, params } = query.getQuery()
      this.logger.logQuery(text, params)
      return { text, values: params }
    })
    const results = await this.client
      .batch(statements, { rowMode: 'array', parsers: DRIZZLE_PARSERS })
      .catch((error: unknown) => {
        throw asPostgresError(error)
      })
    return results.map((result, i) => prepared[i]!.mapResult(result, true)) as BatchResponse<T>
  }

  /** `db.$count(…)`: raw SQL answers the whole result here, so the count is in its rows. */
  override async count(query: SQL): Promise<number> {
    const result = await this.execute<QueryResult<{ count: unknown }>>(query)
    return Number(result.rows[0]?.count)
  }

  override async transaction<T>(
    transaction: (tx: SluiceTransaction<TFullSchema, TSchema>) => Promise<T>,
    config: PgTransactionConfig = {},
  ): Promise<T> {
    const { isolationLevel, accessMode, deferrable } = config
    const open = await this.client.begin({
      ...this.options.transaction,
      // PostgreSQL runs read uncommitted as read committed.
      isolation: isolationLevel === 'read uncommitted' ? 'read committed' : isolationLevel,
      readOnly: accessMode === undefined ? undefined : accessMode === 'read only',
      deferrable,
    })
    const session = new SluiceSession(this.client, open, this.dialect, this.schema, this.options)
    let result: T
    try {
      result = await transaction(new SluiceTransaction(this.dialect, session, this.schema))
    } catch (error) {
      // Best effort: should this fail too, the gateway rolls back on its idle timeout.
      await open.rollback().catch(() => {})
      throw error
    }
    // As drizzle's node-postgres driver reports a failed COMMIT (a serialization failure,
    // a deferred constraint): a DrizzleQueryError whose cause has the SQLSTATE as `code`.
    await open.commit().catch((error: unknown) => {
      throw new DrizzleQueryError('commit', [], asPostgresError(error) as Error)
    })
    return result
  }
}

/** A transaction; `tx.transaction(…)` nests one as a savepoint. */
export class SluiceTransaction<
  TFullSchema extends Record<string, unknown>,
  TSchema extends TablesRelationalConfig,
> extends PgTransaction<SluiceQueryResultHKT, TFullSchema, TSchema> {
  static override readonly [entityKind]: string = 'SluiceTransaction'

  override async transaction<T>(
    transaction: (tx: SluiceTransaction<TFullSchema, TSchema>) => Promise<T>,
  ): Promise<T> {
    // As drizzle's node-postgres driver: sp1, sp2… by depth.
    const savepoint = `sp${this.nestedIndex + 1}`
    const { dialect, session } = this as unknown as TransactionInternals
    const tx = new SluiceTransaction<TFullSchema, TSchema>(
      dialect,
      session,
      this.schema,
      this.nestedIndex + 1,
    )
    await tx.execute(sql.raw(`savepoint ${savepoint}`))
    try {
      const result = await transaction(tx)
      await tx.execute(sql.raw(`release savepoint ${savepoint}`))
      return result
    } catch (error) {
      // A transaction the gateway already ended (a statement it cut short, a timeout) has no
      // savepoint to return to: the error that ended it is the one to see, not TX_NOT_FOUND.
      await tx.execute(sql.raw(`rollback to savepoint ${savepoint}`)).catch((failed: unknown) => {
        if (!isTransactionGone((failed as { cause?: unknown }).cause)) throw failed
      })
      throw error
    }
  }
}
