/**
 * `SluiceDialect`: Kysely on the Sluice client. Kysely's own PostgreSQL query compiler,
 * adapter and introspector; the driver sends each statement over HTTP.
 */
import {
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type CompiledQuery,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
} from 'kysely'
import type { Client } from '../../client.js'
import type { SqlQuery } from '../../sql.js'
import type { TransactionRunOptions } from '../../transaction.js'
import { SluiceDriver } from './driver.js'

/** Options of {@link SluiceDialect}. */
export interface SluiceDialectConfig {
  /**
   * The client to send statements through (`createClient(…)`); one from
   * `@sluice/client/stream` also streams `.stream()` results as their rows arrive.
   */
  client: Client
  /**
   * The gateway's limits on each transaction Kysely opens: `idleTimeoutMs`, `timeoutMs`
   * (both capped by the tenant), and `deferrable`. Isolation and access mode come from
   * Kysely's own `setIsolationLevel` and `setAccessMode`.
   */
  transaction?: Pick<TransactionRunOptions, 'idleTimeoutMs' | 'timeoutMs' | 'deferrable'>
}

/**
 * Kysely's dialect for Sluice: queries, `db.transaction()` and `db.startTransaction()` with
 * isolation levels, access modes and savepoints, on the gateway's interactive transactions.
 * @example
 * const db = new Kysely<Database>({ dialect: new SluiceDialect({ client: createClient({ url, token }) }) })
 */
export class SluiceDialect implements Dialect {
  constructor(private readonly config: SluiceDialectConfig) {}

  createDriver(): Driver {
    return new SluiceDriver(this.config)
  }

  createQueryCompiler(): QueryCompiler {
    return new PostgresQueryCompiler()
  }

  createAdapter(): DialectAdapter {
    return new PostgresAdapter()
  }

  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new PostgresIntrospector(db)
  }
}

/**
 * A Kysely query as the client's `{ text, values }`, typed by its rows: for `client.batch`,
 * which runs several in one request and one transaction.
 * @example
 * const [, { rows }] = await client.batch([toSqlQuery(db.insertInto('users').values(u)), toSqlQuery(db.selectFrom('users').selectAll())])
 */
export function toSqlQuery<Row>(query: { compile(): CompiledQuery<Row> }): SqlQuery<Row> {
  const { sql, parameters } = query.compile()
  return { text: sql, values: parameters }
}
