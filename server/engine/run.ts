/**
 * Running requests on a tenant's pool: one statement (`/v1/query`) or several in one
 * transaction (`/v1/batch`). Every borrowed connection goes back on every path; readonly
 * tokens run inside READ ONLY transactions, so PostgreSQL itself refuses their writes.
 */
import { serializeValue } from '../../src/codecs/serialize.js'
import { SluiceError } from '../../src/errors.js'
import type {
  BatchRequest,
  BatchResult,
  QueryRequest,
  QueryResult,
  TransactionOptions,
  WireParam,
} from '../../src/protocol.js'
import type { AbortLike } from '../lifecycle/abort.js'
import type { Principal } from '../tenants/tokens.js'
import { toSluiceError } from './db-error.js'
import { timeStatement, type StatementScope } from '../log/statement-scope.js'
import type { Connection } from '../pool/connection.js'
import type { RowSink, StatementOptions } from '../pool/statement.js'
import { analyzeSql, type SqlAnalysis } from './analyze.js'
import type { Tenant } from '../tenants/tenant.js'
import { settled, watchWrites } from './cache-writes.js'
import { deadlinePassed, withCancellation, type Deadline } from './cancellation.js'
import { bufferedLimits, resultTooLarge } from './result-limits.js'

/** Who runs what, where. */
export interface RunContext {
  tenant: Tenant
  principal: Principal
  /** Aborts when the HTTP client goes away. */
  signal?: AbortLike | undefined
  /** Aborts when the gateway's drain ends (lifecycle.stopping). */
  shutdown?: AbortLike | undefined
  /** For the hold-time watchdog's warnings. */
  requestId?: string
  /** Receives each statement's timing, for logs and metrics. */
  statements?: StatementScope | undefined
}

const NUL = '\u0000'
/**
 * False when half of a surrogate pair stands alone: JSON can carry one ("\ud800"), UTF-8
 * cannot, and pg would send U+FFFD in its place. (String.prototype.isWellFormed, ES2024:
 * in Node 20, not yet in our TypeScript lib; ~7x faster than a /\p{Cs}/u test.)
 */
function isWellFormed(text: string): boolean {
  return (text as string & { isWellFormed(): boolean }).isWellFormed()
}

/**
 * How {@link checkStatement}'s messages name the request's fields and what to use instead:
 * `/v1` by default; Neon's `/sql` and the statements of a transaction say it their way.
 */
export interface StatementNames {
  /** Prefixes the field names (`statements.2.` in a batch). @default '' */
  where?: string
  /** The field that holds the SQL. @default 'sql' */
  sql?: string
  /** Where several statements go instead. */
  several?: string
  /** What to use instead of transaction control. */
  control?: string
}

const V1_NAMES = {
  where: '',
  sql: 'sql',
  several: 'use /v1/batch to run several in one transaction',
  control: 'use /v1/batch or /v1/transactions, which manage the transaction',
} satisfies Required<StatementNames>

/**
 * Checks one statement before it costs a connection: what PostgreSQL would refuse as a
 * protocol error (a NUL byte, a parameter count that does not match) and what HTTP cannot
 * carry. `names` says how messages name the fields ({@link StatementNames}).
 */
export function checkStatement(request: QueryRequest, names: StatementNames = {}): SqlAnalysis {
  const { where, sql: sqlField, several, control } = { ...V1_NAMES, ...names }
  const { sql, params = [] } = request
  if (sql.includes(NUL)) {
    throw new SluiceError(
      'BAD_REQUEST',
      `${where}${sqlField} holds a NUL character (\\u0000), which PostgreSQL text cannot contain`,
    )
  }
  const analysis = analyzeSql(sql)
  if (analysis.statements === 0)
    throw new SluiceError('BAD_REQUEST', `${where}${sqlField} is empty: send one SQL statement`)
  if (analysis.statements > 1) {
    throw new SluiceError(
      'BAD_REQUEST',
      `${where}${sqlField} holds ${analysis.statements} statements: send exactly one (${several})`,
    )
  }
  if (analysis.transactionControl) {
    throw new SluiceError(
      'BAD_REQUEST',
      `${where}${sqlField}: ${analysis.leading.toUpperCase()} is not allowed here: ${control}`,
    )
  }
  if (analysis.copyStream) {
    throw new SluiceError(
      'BAD_REQUEST',
      `${where}${sqlField}: COPY FROM STDIN / TO STDOUT needs a copy stream, which HTTP requests cannot carry: use INSERT or SELECT`,
    )
  }
  // (An SQL-level PREPARE's $n belong to the statement it prepares, not to this one.)
  if (params.length !== analysis.maxParam && analysis.leading !== 'prepare') {
    throw new SluiceError(
      'BAD_REQUEST',
      `${where}params: the statement uses ${analysis.maxParam === 0 ? 'no parameters' : `$1 to $${analysis.maxParam}`}, so send ${analysis.maxParam} params, not ${params.length}`,
    )
  }
  const index = params.findIndex((p) => typeof p === 'string' && p.includes(NUL))
  if (index >= 0) {
    throw new SluiceError(
      'BAD_REQUEST',
      `${where}params.${index} holds a NUL character (\\u0000), which PostgreSQL text cannot contain`,
    )
  }
  if (!isWellFormed(sql)) throw loneSurrogate(`${where}${sqlField}`)
  const lone = params.findIndex((p) => typeof p === 'string' && !isWellFormed(p))
  if (lone >= 0) throw loneSurrogate(`${where}params.${lone}`)
  return analysis
}

function loneSurrogate(field: string): SluiceError {
  return new SluiceError(
    'BAD_REQUEST',
    `${field} holds half of a UTF-16 surrogate pair (such as \\ud800) alone, which is no character and cannot be sent as UTF-8`,
  )
}

/** The request's timeout, capped by the tenant's statementTimeoutMs (which is also the default). */
export function effectiveTimeout(tenant: Tenant, requested: number | undefined): number {
  const cap = tenant.config.statementTimeoutMs
  return requested === undefined ? cap : Math.min(requested, cap)
}

/**
 * Parameters as PostgreSQL text, by the edge client's own rule (`String`, but `-0` keeps its
 * sign), which the query cache's key follows too.
 */
export function toText(params: readonly WireParam[] | undefined): (string | null)[] {
  if (!params) return []
  return params.map(serializeValue)
}

/** SQL that opens a transaction with the given options (values are validated enums). */
export function beginSql(options: TransactionOptions, readOnly: boolean): string {
  let sql = 'BEGIN'
  if (options.isolation) sql += ` ISOLATION LEVEL ${options.isolation.toUpperCase()}`
  sql += readOnly ? ' READ ONLY' : ' READ WRITE'
  if (options.deferrable !== undefined)
    sql += options.deferrable ? ' DEFERRABLE' : ' NOT DEFERRABLE'
  // For a readonly token, take the snapshot at once: after it, SET TRANSACTION READ WRITE
  // is refused by PostgreSQL, so no statement of the caller can lift the read-only mode.
  return readOnly ? `${sql}; SELECT 1` : sql
}

/** What is left of a response's byte limit. */
export interface ByteBudget {
  remaining: number
}

/**
 * Runs one statement on a connection and shapes its result, enforcing the tenant's row limit
 * and the response's byte budget (shared by the statements of a batch or transaction).
 * `alone`: the statement is its own implicit transaction, so it may run as a named prepared
 * statement (server/pool/prepared.ts). With a `sink`, the rows go there as they arrive.
 */
export async function execute(
  connection: Connection,
  context: Pick<RunContext, 'tenant' | 'statements'>,
  request: QueryRequest,
  budget: ByteBudget = { remaining: context.tenant.config.maxResultBytes },
  alone = false,
  sink?: RowSink,
): Promise<QueryResult> {
  const { tenant } = context
  const options: StatementOptions = {
    text: request.sql,
    values: toText(request.params),
    ...bufferedLimits(tenant, budget.remaining),
  }
  if (sink) options.sink = sink
  // Timed for the statement histogram and the slow-statement log (server/log/).
  const outcome = await timeStatement(context.statements, tenant.name, request, () =>
    alone ? connection.runPrepared(options) : connection.run(options),
  )
  budget.remaining -= outcome.bytes
  if (outcome.tooLarge) throw resultTooLarge(tenant, outcome.tooLarge, false)
  return {
    command: outcome.command,
    rowCount: outcome.rowCount,
    fields: outcome.fields,
    rows: outcome.rows,
  }
}

/** Rolls back, or marks the connection for discarding when even that fails. */
export async function rollbackQuietly(connection: Connection): Promise<void> {
  if (connection.broken || connection.cancelled) return
  try {
    await connection.simple('ROLLBACK')
  } catch {
    connection.broken = true
  }
}

/** Borrows a connection for `work` and returns it on every path. */
export async function withConnection<T>(
  context: RunContext,
  timeoutMs: number,
  work: (connection: Connection, deadline: Deadline) => Promise<T>,
): Promise<T> {
  const { pool } = context.tenant
  const connection = await pool.acquire(context.signal, context.requestId)
  try {
    return await withCancellation(connection, timeoutMs, context, (deadline) =>
      work(connection, deadline),
    )
  } finally {
    pool.release(connection)
  }
}

/**
 * Runs the one statement of a `/v1/query` on a borrowed connection, a readonly token's
 * inside a READ ONLY transaction. `work` is told whether the statement runs alone in its
 * implicit transaction (so it may be a named prepared statement).
 */
export async function runSingle<T>(
  context: RunContext,
  request: QueryRequest,
  work: (connection: Connection, alone: boolean) => Promise<T>,
): Promise<T> {
  checkStatement(request)
  const readOnly = context.principal.role === 'readonly'
  const watch = watchWrites(context.tenant, readOnly, [request.sql])
  const result = withConnection(
    context,
    effectiveTimeout(context.tenant, request.timeoutMs),
    async (connection, deadline) => {
      if (!readOnly) return work(connection, true)
      await connection.simple(beginSql({}, true))
      try {
        // A cancel that landed during BEGIN stopped nothing: do not start past the deadline.
        if (deadline.passed) throw deadlinePassed()
        const result = await work(connection, false)
        await connection.simple('COMMIT')
        return result
      } catch (error) {
        await rollbackQuietly(connection)
        throw error
      }
    },
  )
  return watch ? settled(watch, result) : result
}

/** `POST /v1/query`: one statement. */
export function runQuery(context: RunContext, request: QueryRequest): Promise<QueryResult> {
  return runSingle(context, request, (connection, alone) =>
    execute(connection, context, request, undefined, alone),
  )
}

/**
 * `POST /v1/query` for an answer written as the rows arrive: the same limits as
 * {@link runQuery}, but each row goes to `sink` instead of into the result (whose `rows`
 * stay empty), so the caller can encode it at once.
 */
export function runQueryInto(
  context: RunContext,
  request: QueryRequest,
  sink: RowSink,
): Promise<QueryResult> {
  return runSingle(context, request, (connection, alone) =>
    execute(connection, context, request, undefined, alone, sink),
  )
}

/** `POST /v1/batch`: statements in order, in one transaction, all or nothing. */
export async function runBatch(context: RunContext, request: BatchRequest): Promise<BatchResult> {
  request.statements.forEach((s, i) => checkStatement(s, { where: `statements.${i}.` }))
  const readOnly = context.principal.role === 'readonly' || request.readOnly === true
  const { tenant } = context
  const watch = watchWrites(
    tenant,
    readOnly,
    request.statements.map((s) => s.sql),
  )
  const result = withConnection(
    context,
    effectiveTimeout(tenant, request.timeoutMs),
    async (connection, deadline) => {
      await connection.simple(beginSql(request, readOnly))
      const results: QueryResult[] = []
      const budget = { remaining: tenant.config.maxResultBytes }
      let index = 0
      try {
        for (; index < request.statements.length; index++) {
          if (deadline.passed) throw deadlinePassed()
          results.push(await execute(connection, context, request.statements[index]!, budget))
        }
        if (deadline.passed) throw deadlinePassed()
        await connection.simple('COMMIT')
      } catch (error) {
        await rollbackQuietly(connection)
        throw toSluiceError(
          error,
          index < request.statements.length ? { statementIndex: index } : {},
        )
      }
      return { results }
    },
  )
  return watch ? settled(watch, result) : result
}
