/**
 * `drizzle(client, config)`: a Drizzle database on the Sluice client, with
 * `db.transaction(…)` (nested ones as savepoints), `db.batch([…])` and relational queries.
 */
import { DefaultLogger, entityKind, type Logger } from 'drizzle-orm'
import type { BatchItem, BatchResponse } from 'drizzle-orm/batch'
import { PgDatabase, PgDialect } from 'drizzle-orm/pg-core'
import {
  createTableRelationsHelpers,
  extractTablesRelationalConfig,
  type ExtractTablesWithRelations,
  type RelationalSchemaConfig,
  type TablesRelationalConfig,
} from 'drizzle-orm/relations'
import type { DrizzleConfig } from 'drizzle-orm/utils'
import type { Client } from '../../client.js'
import type { TransactionRunOptions } from '../../transaction.js'
import { SluiceSession, type SluiceQueryResultHKT } from './session.js'

/** Drizzle's config, plus the gateway's limits on the transactions `db.transaction` opens. */
export interface SluiceDrizzleConfig<
  TSchema extends Record<string, unknown>,
> extends DrizzleConfig<TSchema> {
  /**
   * `idleTimeoutMs` (gateway default 10 s) and `timeoutMs` (default 30 s) of each
   * transaction, capped by the tenant. Isolation, access mode and deferrable come from
   * `db.transaction(callback, config)`.
   */
  transaction?: Pick<TransactionRunOptions, 'idleTimeoutMs' | 'timeoutMs'> | undefined
}

/** A Drizzle database on Sluice: PostgreSQL's query builder plus `batch`. */
export class SluiceDatabase<
  TSchema extends Record<string, unknown> = Record<string, never>,
> extends PgDatabase<SluiceQueryResultHKT, TSchema> {
  static override readonly [entityKind]: string = 'SluiceDatabase'

  /**
   * Runs queries in order in one `/v1/batch`: one round trip, one transaction, all or
   * nothing; resolves to each query's result.
   * @example const [user, posts] = await db.batch([db.insert(users).values(u).returning(), db.select().from(posts)])
   */
  async batch<U extends BatchItem<'pg'>, T extends Readonly<[U, ...U[]]>>(
    batch: T,
  ): Promise<BatchResponse<T>> {
    const { session } = this._ as unknown as {
      session: SluiceSession<TSchema, ExtractTablesWithRelations<TSchema>>
    }
    return session.batch(batch)
  }
}

/**
 * Creates a Drizzle database over `client`. `config` is Drizzle's own (`schema` for
 * `db.query`, `logger`, `casing`, `cache`) plus the gateway's `transaction` limits.
 * @example
 * const db = drizzle(createClient({ url, token }), { schema })
 * await db.transaction(async (tx) => { await tx.insert(users).values(u) })
 */
export function drizzle<TSchema extends Record<string, unknown> = Record<string, never>>(
  client: Client,
  config: SluiceDrizzleConfig<TSchema> = {},
): SluiceDatabase<TSchema> & { $client: Client } {
  const dialect = new PgDialect(config.casing ? { casing: config.casing } : {})
  const logger: Logger | undefined =
    config.logger === true
      ? new DefaultLogger()
      : config.logger === false
        ? undefined
        : config.logger
  let schema: RelationalSchemaConfig<TablesRelationalConfig> | undefined
  if (config.schema) {
    const tables = extractTablesRelationalConfig(config.schema, createTableRelationsHelpers)
    schema = {
      fullSchema: config.schema,
      schema: tables.tables,
      tableNamesMap: tables.tableNamesMap,
    }
  }
  const session = new SluiceSession(client, client, dialect, schema, {
    logger,
    cache: config.cache,
    transaction: config.transaction,
  })
  const db = new SluiceDatabase<TSchema>(
    dialect,
    session,
    schema as never,
  ) as SluiceDatabase<TSchema> & {
    $client: Client
  }
  db.$client = client
  if (config.cache) {
    // As drizzle's own drivers wire a cache.
    db.$cache = Object.assign(config.cache, { invalidate: config.cache.onMutate }) as never
  }
  return db
}
