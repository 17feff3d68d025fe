/**
 * `PrismaSluice`: a Prisma 7 driver adapter on the Sluice client. Queries go to
 * `/v1/query`; every transaction Prisma starts (interactive `$transaction(async (tx) => …)`,
 * sequential `$transaction([…])`, and the ones it opens for nested writes) is one of the
 * gateway's interactive transactions, begun and ended by its endpoints. So the adapter
 * declares `usePhantomQuery`: Prisma then calls `commit()` / `rollback()` instead of sending
 * COMMIT or ROLLBACK as SQL, which the gateway refuses. Nested transactions are savepoints.
 */
import type {
  ConnectionInfo,
  IsolationLevel,
  SqlDriverAdapter,
  SqlDriverAdapterFactory,
  SqlQuery,
  SqlResultSet,
  Transaction,
  TransactionOptions,
} from '@prisma/driver-adapter-utils'
import type { Client } from '../../client.js'
import type { Queryable } from '../../queryable.js'
import type { TransactionHandle, TransactionRunOptions } from '../../transaction.js'
import type { IsolationLevel as SluiceIsolationLevel } from '../../../src/protocol.js'
import { isTransactionGone } from '../postgres-error.js'
import { mapArg } from './args.js'
import { columnType, PRISMA_PARSERS } from './columns.js'
import { DriverAdapterError, toPrismaError } from './errors.js'

/** The adapter's name, as Prisma reports it in logs and errors. */
const ADAPTER_NAME = '@sluice/client/prisma'

/** Options of {@link PrismaSluice}. */
export interface PrismaSluiceOptions {
  /** The PostgreSQL schema your Prisma schema lives in, when not `public`. */
  schema?: string | undefined
  /**
   * Most parameters Prisma puts in one statement; it splits a larger `createMany` or `in`
   * list into several. A statement must fit the gateway's `server.bodyLimitBytes` (1 MiB by
   * default), where a direct connection takes PostgreSQL's 65,535 parameters: lower this
   * (say to 10,000) when big writes fail with `PAYLOAD_TOO_LARGE`. Prisma refuses a filter
   * with more values than this (a long `in` list) rather than split it.
   * @default 32766, Prisma's own for PostgreSQL
   */
  maxBindValues?: number | undefined
  /**
   * The gateway's limits on each transaction Prisma opens, capped by the tenant:
   * `idleTimeoutMs` (gateway default 10 s) and `timeoutMs` (default 30 s). Prisma's own
   * `timeout` (default 5 s) ends a transaction first; raise `timeoutMs` here too when you
   * raise Prisma's above the gateway's.
   */
  transaction?: Pick<TransactionRunOptions, 'idleTimeoutMs' | 'timeoutMs'> | undefined
}

const ISOLATION: Record<IsolationLevel, SluiceIsolationLevel | undefined> = {
  // PostgreSQL runs read uncommitted as read committed.
  'READ UNCOMMITTED': 'read committed',
  'READ COMMITTED': 'read committed',
  'REPEATABLE READ': 'repeatable read',
  SERIALIZABLE: 'serializable',
  SNAPSHOT: undefined,
}

/** Statements against the client or an open transaction, in Prisma's shapes. */
class SluiceQueryable {
  readonly provider = 'postgres'
  readonly adapterName = ADAPTER_NAME

  constructor(protected readonly target: Queryable) {}

  async queryRaw(query: SqlQuery): Promise<SqlResultSet> {
    const { fields, rows } = await this.run(query)
    return {
      columnNames: fields.map((field) => field.name),
      columnTypes: fields.map((field) => columnType(field.dataTypeID)),
      rows: rows as unknown[][],
    }
  }

  async executeRaw(query: SqlQuery): Promise<number> {
    return (await this.run(query)).rowCount ?? 0
  }

  private async run(query: SqlQuery) {
    const values = query.args.map((arg, i) => mapArg(arg, query.argTypes[i]))
    try {
      return await this.target.query(query.sql, values, {
        rowMode: 'array',
        parsers: PRISMA_PARSERS,
      })
    } catch (error) {
      throw toPrismaError(error)
    }
  }
}

/** One of the gateway's interactive transactions, as Prisma drives it. */
class SluiceTransaction extends SluiceQueryable implements Transaction {
  readonly options: TransactionOptions = { usePhantomQuery: true }

  constructor(private readonly handle: TransactionHandle) {
    super(handle)
  }

  async commit(): Promise<void> {
    await this.handle.commit().catch((error: unknown) => {
      throw toPrismaError(error)
    })
  }

  async rollback(): Promise<void> {
    // One the gateway already ended (its idle or total timeout) was rolled back.
    await this.handle.rollback().catch((error: unknown) => {
      if (!isTransactionGone(error)) throw toPrismaError(error)
    })
  }

  async createSavepoint(name: string): Promise<void> {
    await this.executeRaw({ sql: `SAVEPOINT ${name}`, args: [], argTypes: [] })
  }

  async rollbackToSavepoint(name: string): Promise<void> {
    await this.executeRaw({ sql: `ROLLBACK TO SAVEPOINT ${name}`, args: [], argTypes: [] })
  }

  async releaseSavepoint(name: string): Promise<void> {
    await this.executeRaw({ sql: `RELEASE SAVEPOINT ${name}`, args: [], argTypes: [] })
  }
}

/** The adapter `PrismaSluice.connect()` gives Prisma. */
class SluiceAdapter extends SluiceQueryable implements SqlDriverAdapter {
  constructor(
    private readonly client: Client,
    private readonly options: PrismaSluiceOptions,
  ) {
    super(client)
  }

  async startTransaction(isolationLevel?: IsolationLevel): Promise<Transaction> {
    const isolation = isolationLevel && ISOLATION[isolationLevel]
    if (isolationLevel && !isolation) {
      throw new DriverAdapterError({ kind: 'InvalidIsolationLevel', level: isolationLevel })
    }
    try {
      return new SluiceTransaction(
        await this.client.begin({ ...this.options.transaction, isolation }),
      )
    } catch (error) {
      throw toPrismaError(error)
    }
  }

  /**
   * Runs a script's statements in order in one `/v1/batch` (all or nothing). Like adapter-pg,
   * it splits on every `;`, so a `;` inside a string or a function body breaks it.
   */
  async executeScript(script: string): Promise<void> {
    const statements = script
      .split(';')
      .map((statement) => statement.trim())
      .filter((statement) => statement.length > 0)
    try {
      await this.client.batch(statements)
    } catch (error) {
      throw toPrismaError(error)
    }
  }

  getConnectionInfo(): ConnectionInfo {
    const { schema, maxBindValues } = this.options
    return {
      ...(schema !== undefined && { schemaName: schema }),
      ...(maxBindValues !== undefined && { maxBindValues }),
      supportsRelationJoins: true,
    }
  }

  /** Nothing to close: the client holds no connection. */
  async dispose(): Promise<void> {}
}

/**
 * Prisma's driver adapter factory for Sluice: pass it as `adapter` to `new PrismaClient`.
 * @example
 * const prisma = new PrismaClient({ adapter: new PrismaSluice(createClient({ url, token })) })
 */
export class PrismaSluice implements SqlDriverAdapterFactory {
  readonly provider = 'postgres'
  readonly adapterName = ADAPTER_NAME

  constructor(
    private readonly client: Client,
    private readonly options: PrismaSluiceOptions = {},
  ) {}

  async connect(): Promise<SqlDriverAdapter> {
    return new SluiceAdapter(this.client, this.options)
  }
}
