/**
 * Drizzle's PostgreSQL session over the Sluice client, built on drizzle-orm's pg-core
 * classes as its own HTTP drivers are: statements go to `/v1/query`, `db.batch` to one
 * `/v1/batch`, and `db.transaction` into an interactive transaction, nested ones as
 * savepoints. Values are parsed as drizzle's node-postgres driver has them parsed, so
 * Drizzle's columns map them the same way.
 */
import * as drizzleOrm from 'drizzle-orm'
import { NoopCache, type Cache } from 'drizzle-orm/cache/core'
import type { WithCacheConfig } from 'drizzle-orm/cache/core/types'
import type { BatchItem, BatchResponse } from 'drizzle-orm/batch'
import {
  entityKind,
  fillPlaceholders,
  NoopLogger,
  sql,
  type Logger,
  type Query,
  type SQL,
} from 'drizzle-orm'
import {
  PgPreparedQuery,
  PgSession,
  PgTransaction,
  type PgDialect,
  type PgQueryResultHKT,
  type PgTransactionConfig,
  type PreparedQueryConfig,
  type SelectedFieldsOrdered,
} from 'drizzle-orm/pg-core'
import type { RelationalSchemaConfig, TablesRelationalConfig } from 'drizzle-orm/relations'
import type { Client } from '../../client.js'
import type { Queryable } from '../../queryable.js'
import type { QueryResult } from '../../result.js'
import type { TransactionRunOptions } from '../../transaction.js'
import type { TypeParser } from '../../../src/codecs/parse.js'
import { asPostgresError } from '../postgres-error.js'

/** What `db.execute(sql…)` resolves to: the client's result. */
export type SluiceQueryResult<Row> = QueryResult<Row>

/** Drizzle's result type for Sluice. */
export interface SluiceQueryResultHKT extends PgQueryResultHKT {
  type: SluiceQueryResult<this['row']>
}

type Fields = SelectedFieldsOrdered | undefined
type ResultMapper = (rows: unknown[][]) => unknown
type QueryMetadata = { type: 'select' | 'update' | 'delete' | 'insert'; tables: string[] }
type MapResultRow = (fields: SelectedFieldsOrdered, row: unknown[], joins: unknown) => unknown

// Drizzle's drivers use a few members its published types leave out (`@internal`): its row
// mapper, its cache-aware runner (which also wraps errors in DrizzleQueryError), and the
// dialect and session of a transaction. Using them keeps rows and errors exactly as drizzle's
// node-postgres driver has them; the comparison test fails if a drizzle release moves them.
const { mapResultRow } = drizzleOrm as unknown as { mapResultRow: MapResultRow }

interface PreparedInternals {
  queryWithCache<R>(text: string, params: unknown[], run: () => Promise<R>): Promise<R>
  joinsNotNullableMap?: Record<string, boolean>
}

interface TransactionInternals {
  dialect: PgDialect
  session: PgSession
}

const asText: TypeParser = (text) => text

/**
 * Types drizzle's node-postgres driver leaves as PostgreSQL's text, for its columns to parse
 * (timestamps, dates, intervals, numeric[] and their arrays), and int8 as text as pg has it.
 */
export const DRIZZLE_PARSERS: Readonly<Record<number, TypeParser>> = Object.fromEntries(
  [20, 1082, 1114, 1184, 1186, 1231, 1115, 1182, 1185, 1187].map((oid) => [oid, asText]),
)

/** Options shared by the sessions of one database. */
export interface SluiceSessionOptions {
  logger?: Logger | undefined
  cache?: Cache | undefined
  /** The gateway's limits on each transaction. */
  transaction?: Pick<TransactionRunOptions, 'idleTimeoutMs' | 'timeoutMs'> | undefined
}

/** One prepared statement. */
export class SluicePreparedQuery<T extends PreparedQueryConfig> extends PgPreparedQuery<T> {
  static override readonly [entityKind]: string = 'SluicePreparedQuery'

  constructor(
    private readonly target: Queryable,
    query: Query,
    private readonly logger: Logger,
    cache: Cache,
    queryMetadata: QueryMetadata | undefined,
    cacheConfig: WithCacheConfig | undefined,
    private readonly fields: Fields,
    private readonly arrayMode: boolean,
    private readonly customResultMapper: ResultMapper | undefined,
  ) {
    super(query, cache, queryMetadata, cacheConfig)
  }

  private get internals(): PreparedInternals {
    return this as unknown as PreparedInternals
  }

  /** True when drizzle maps the rows itself: they come as arrays. */
  private get mapped(): boolean {
    return this.fields !== undefined || this.customResultMapper !== undefined
  }

  async execute(placeholderValues: Record<string, unknown> = {}): Promise<T['execute']> {
    const params = fillPlaceholders(this.query.params, placeholderValues)
    this.logger.logQuery(this.query.sql, params)
    const result = await this.internals.queryWithCache(this.query.sql, params, () =>
      this.target
        .query(this.query.sql, params, {
          rowMode: this.mapped ? 'array' : 'object',
          parsers: DRIZZLE_PARSERS,
        })
        .catch((error: unknown) => {
          throw asPostgresError(error)
        }),
    )
    return this.mapResult(result)
  }

  async all(placeholderValues: Record<string, unknown> = {}): Promise<T['all']> {
    const params = fillPlaceholders(this.query.params, placeholderValues)
    this.logger.logQuery(this.query.sql, params)
    const result = await this.internals.queryWithCache(this.query.sql, params, () =>
      this.target.query(this.query.sql, params, { parsers: DRIZZLE_PARSERS }).catch((error) => {
        throw asPostgresError(error)
      }),
    )
    return result.rows
  }

  /** Rows as drizzle wants them: mapped through its fields, or the whole result for raw SQL. */
  override mapResult(response: unknown, isFromBatch?: boolean): unknown {
    const result = response as QueryResult<unknown>
    if (!this.mapped) {
      // A batch answers in array mode throughout; raw SQL wants objects.
      if (!isFromBatch) return result
      const rows = (result.rows as unknown[][]).map((row) =>
        Object.fromEntries(result.fields.map((field, i) => [field.name, row[i]])),
      )
      return { ...result, rows }
    }
    const rows = result.rows as unknown[][]
    if (this.customResultMapper) return this.customResultMapper(rows)
    return rows.map((row) => mapResultRow(this.fields!, row, this.internals.joinsNotNullableMap))
  }

  /** @internal */
  isResponseInArrayMode(): boolean {
    return this.arrayMode
  }
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
    return this.client.transaction(
      (open) => {
        const session = new SluiceSession(
          this.client,
          open,
          this.dialect,
          this.schema,
          this.options,
        )
        return transaction(new SluiceTransaction(this.dialect, session, this.schema))
      },
      {
        ...this.options.transaction,
        // PostgreSQL runs read uncommitted as read committed.
        isolation: isolationLevel === 'read uncommitted' ? 'read committed' : isolationLevel,
        readOnly: accessMode === undefined ? undefined : accessMode === 'read only',
        deferrable,
      },
    )
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
      await tx.execute(sql.raw(`rollback to savepoint ${savepoint}`))
      throw error
    }
  }
}
