/**
 * `query` and the `sql` tag, shared by the client and a transaction: they differ only in
 * where a statement is sent.
 */
import type { ParseOptions } from '../src/codecs/parse.js'
import { serializeParams } from '../src/codecs/serialize.js'
import type { CacheRequest, QueryRequest, QueryResult as WireResult } from '../src/protocol.js'
import { decodeResult, type DecodeOptions, type QueryResult } from './result.js'
import { sql as buildSql, type SqlQuery } from './sql.js'
import type { StandardSchemaV1 } from './standard-schema.js'
import { statementTimeout, type CallOptions, type Transport } from './transport.js'

/** Options of one `query`: how to decode it, its deadline and signal, and caching. */
export interface QueryOptions extends DecodeOptions, CallOptions {
  /**
   * Lets the gateway answer this plain read from its cache (docs/cache.md): `ttlMs`,
   * `swrMs`, `tags`. Ignored inside a transaction.
   * @example await db.query('select * from plans', [], { cache: { ttlMs: 60_000 } })
   */
  cache?: CacheRequest | undefined
}

type Params = readonly unknown[] | undefined
type WithSchema<S> = QueryOptions & { schema: S }
type ArrayRows = QueryOptions & { rowMode: 'array' }
type Output<S extends StandardSchemaV1> = StandardSchemaV1.InferOutput<S>

/** Runs statements: the client itself, or a transaction. */
export interface Queryable {
  /**
   * Runs one statement; `params` are sent as PostgreSQL text (see docs/types.md).
   * @example const { rows } = await db.query<{ id: number }>('select id from t where a = $1', [a])
   */
  query<S extends StandardSchemaV1>(
    text: string,
    params: Params,
    options: WithSchema<S>,
  ): Promise<QueryResult<Output<S>>>
  query<Row extends unknown[] = unknown[]>(
    text: string,
    params: Params,
    options: ArrayRows,
  ): Promise<QueryResult<Row>>
  query<Row = Record<string, unknown>>(
    text: string,
    params?: Params,
    options?: QueryOptions,
  ): Promise<QueryResult<Row>>
  query<S extends StandardSchemaV1>(
    query: SqlQuery<unknown>,
    options: WithSchema<S>,
  ): Promise<QueryResult<Output<S>>>
  query<Row extends unknown[] = unknown[]>(
    query: SqlQuery<unknown>,
    options: ArrayRows,
  ): Promise<QueryResult<Row>>
  query<Row = Record<string, unknown>>(
    query: SqlQuery<Row>,
    options?: QueryOptions,
  ): Promise<QueryResult<Row>>
  /**
   * Runs a tagged template and resolves to its rows; values become parameters.
   * @example const users = await db.sql<User>`select * from users where org = ${org}`
   */
  sql<Row = Record<string, unknown>>(
    template: TemplateStringsArray,
    ...values: unknown[]
  ): Promise<Row[]>
  /**
   * The `sql` tag with options for its statement: a cache, a deadline, how to decode.
   * @example const plans = await db.sql({ cache: { ttlMs: 60_000 } })`select * from plans`
   */
  sql(
    options: QueryOptions,
  ): <Row = Record<string, unknown>>(
    template: TemplateStringsArray,
    ...values: unknown[]
  ) => Promise<Row[]>
}

/** Sends one statement (its `timeoutMs` set from the call's) and answers its wire result. */
export type SendQuery = (request: QueryRequest, options: CallOptions) => Promise<WireResult>

/** A call's options with its parse options merged over the client's. */
export function parseOptions<O extends ParseOptions>(defaults: ParseOptions, options: O): O {
  return {
    ...options,
    bigint: options.bigint ?? defaults.bigint,
    dateStrings: options.dateStrings ?? defaults.dateStrings,
    parsers: { ...defaults.parsers, ...options.parsers },
  }
}

/** Builds `query` and `sql` over `send`. */
export function queryable(t: Transport, send: SendQuery, defaults: ParseOptions): Queryable {
  async function query(
    first: string | SqlQuery<unknown>,
    second?: Params | QueryOptions,
    third?: QueryOptions,
  ): Promise<QueryResult<unknown>> {
    const [text, values, options = {}] =
      typeof first === 'string'
        ? [first, (second as Params) ?? [], third]
        : [first.text, first.values, second as QueryOptions | undefined]
    const wire = await send(
      {
        sql: text,
        params: serializeParams(values),
        timeoutMs: statementTimeout(t, options),
        cache: options.cache,
      },
      options,
    )
    return decodeResult(wire, parseOptions(defaults, options))
  }
  const tag =
    (options?: QueryOptions) =>
    (template: TemplateStringsArray, ...values: unknown[]) =>
      query(buildSql(template, ...values), options).then((result) => result.rows as never)
  return {
    query: query as Queryable['query'],
    // sql`…` runs at once; sql(options)`…` takes the options first.
    sql: ((first: TemplateStringsArray | QueryOptions, ...values: unknown[]) =>
      Array.isArray(first)
        ? tag()(first as TemplateStringsArray, ...values)
        : tag(first as QueryOptions)) as Queryable['sql'],
  }
}
