/**
 * One statement of drizzle's PostgreSQL session over the Sluice client: sent to `/v1/query`
 * (or into the open transaction) with values parsed as drizzle's node-postgres driver has
 * pg parse them, and rows mapped by drizzle's own mapper, so its columns read them the same.
 */
import * as drizzleOrm from 'drizzle-orm'
import { entityKind, fillPlaceholders, type Logger, type Query } from 'drizzle-orm'
import type { Cache } from 'drizzle-orm/cache/core'
import type { WithCacheConfig } from 'drizzle-orm/cache/core/types'
import {
  PgPreparedQuery,
  type PreparedQueryConfig,
  type SelectedFieldsOrdered,
} from 'drizzle-orm/pg-core'
import type { Queryable } from '../../queryable.js'
import type { QueryResult } from '../../result.js'
import type { TypeParser } from '../../../src/codecs/parse.js'
import { asPostgresError } from '../postgres-error.js'

/** The selection drizzle maps array rows through, if any. */
export type Fields = SelectedFieldsOrdered | undefined
/** A relational query's own mapper of array rows. */
export type ResultMapper = (rows: unknown[][]) => unknown
/** What drizzle tells a prepared statement about the query, for its cache. */
export type QueryMetadata = { type: 'select' | 'update' | 'delete' | 'insert'; tables: string[] }
type MapResultRow = (fields: SelectedFieldsOrdered, row: unknown[], joins: unknown) => unknown

// Drizzle's drivers use members its published types leave out (`@internal`): its row mapper
// and its cache-aware runner (which also wraps errors in DrizzleQueryError). Using them keeps
// rows and errors exactly as drizzle's node-postgres driver has them; the comparison test
// fails if a drizzle release moves them.
const { mapResultRow } = drizzleOrm as unknown as { mapResultRow: MapResultRow }

interface PreparedInternals {
  queryWithCache<R>(text: string, params: unknown[], run: () => Promise<R>): Promise<R>
  joinsNotNullableMap?: Record<string, boolean>
}

const asText: TypeParser = (text) => text

/**
 * Types drizzle's node-postgres driver leaves as PostgreSQL's text, for its columns to parse
 * (timestamps, dates, intervals, numeric[] and their arrays), and int8 as text as pg has it.
 * Frozen: every drizzle database in the process reads through it.
 */
export const DRIZZLE_PARSERS: Readonly<Record<number, TypeParser>> = Object.freeze(
  Object.fromEntries(
    [20, 1082, 1114, 1184, 1186, 1231, 1115, 1182, 1185, 1187].map((oid) => [oid, asText]),
  ),
)

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
