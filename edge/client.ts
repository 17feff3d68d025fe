/**
 * `createClient`: the edge client. A few kilobytes over fetch, no driver and no socket of
 * its own: statements go to the gateway as JSON, values come back parsed by type OID.
 */
import type { ParseOptions } from '../src/codecs/parse.js'
import { serializeParams } from '../src/codecs/serialize.js'
import {
  MAX_TIMEOUT_MS,
  PATHS,
  type BatchResult,
  type QueryResult as WireResult,
  type TransactionOptions,
} from '../src/protocol.js'
import { parseOptions, queryable, type Queryable } from './queryable.js'
import { decodeResult, type QueryResult } from './result.js'
import { retryPolicy, type RetryOptions } from './retry.js'
import type { SqlQuery } from './sql.js'
import {
  begin,
  runTransaction,
  type Transaction,
  type TransactionHandle,
  type TransactionRunOptions,
} from './transaction.js'
import {
  call,
  statementTimeout,
  type CallOptions,
  type Fetch,
  type Transport,
} from './transport.js'

/** Options of {@link createClient}. Parse options apply to every result unless a call overrides them. */
export interface ClientOptions extends ParseOptions {
  /** The gateway's base URL, e.g. `https://sluice.internal:8080`. */
  url: string
  /** A bearer token of the gateway's tenant. */
  token: string
  /** The fetch to use. @default globalThis.fetch */
  fetch?: Fetch | undefined
  /** Deadline of each call, retries included; also sent as the statement's timeout. @default 30000 */
  timeoutMs?: number | undefined
  /** Retries where they are safe, or `false` for none. @default { retries: 2, baseDelayMs: 100, maxDelayMs: 2000 } */
  retry?: RetryOptions | false | undefined
  /** Extra headers on every request (an access proxy's, say). */
  headers?: Record<string, string> | undefined
}

/** Options of `batch`: the transaction's, the call's, and how to decode. */
export interface BatchOptions extends TransactionOptions, CallOptions, ParseOptions {
  /** `array`: each row of every result is an array of values in column order. @default 'object' */
  rowMode?: 'object' | 'array' | undefined
}

/** A batch's results, one per statement, typed by each `sql<Row>` statement. */
export type BatchResults<Q extends readonly unknown[]> = {
  -readonly [K in keyof Q]: QueryResult<
    Q[K] extends SqlQuery<infer Row> ? Row : Record<string, unknown>
  >
}

/** The client: `query`, `sql`, `batch`, `transaction` and `begin`. */
export interface Client extends Queryable {
  /**
   * Runs statements in order in one transaction, all or nothing. A failure names the
   * statement in `statementIndex`.
   * @example const [a, b] = await db.batch([sql`insert …`, sql`select …`], { isolation: 'serializable' })
   */
  batch<const Q extends readonly (string | SqlQuery<unknown>)[]>(
    statements: Q,
    options?: BatchOptions,
  ): Promise<BatchResults<Q>>
  /**
   * Runs `callback` in an interactive transaction: commits when it resolves, rolls back
   * when it throws and rethrows.
   * @example await db.transaction(async (tx) => { await tx.sql`update …`; await tx.sql`insert …` })
   */
  transaction<T>(
    callback: (tx: Transaction) => Promise<T>,
    options?: TransactionRunOptions,
  ): Promise<T>
  /**
   * Opens an interactive transaction and hands it over: the caller ends it with exactly one
   * `commit()` or `rollback()`. For code that cannot wrap its work in a callback (an ORM's
   * driver, say); prefer `transaction` otherwise.
   * @example const tx = await db.begin({ isolation: 'serializable' }); await tx.sql`…`; await tx.commit()
   */
  begin(options?: TransactionRunOptions): Promise<TransactionHandle>
}

/** Checks the options once and builds what every call of the client shares. */
export function transportOf(options: ClientOptions): Transport {
  const { url, token, timeoutMs = 30_000 } = options
  if (!/^https?:\/\/./.test(url) || !token || !(timeoutMs > 0 && timeoutMs <= MAX_TIMEOUT_MS)) {
    throw new TypeError('createClient needs an http(s) url, a token and any timeoutMs above 0')
  }
  return {
    url: url.replace(/\/+$/, ''),
    headers: {
      ...options.headers,
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
    },
    // Called unbound: some runtimes refuse `fetch` with another `this`.
    fetch: options.fetch ?? ((url, init) => fetch(url, init)),
    timeoutMs,
    retry: retryPolicy(options.retry),
  }
}

/**
 * Creates a client for a Sluice gateway. Runs in Workers (no nodejs_compat), Node 20+,
 * Deno, Bun and browsers.
 * @example
 * const db = createClient({ url: env.SLUICE_URL, token: env.SLUICE_TOKEN })
 * const { rows } = await db.query('select now() as now')
 */
export function createClient(options: ClientOptions): Client {
  return clientOn(transportOf(options), options)
}

/** The client over a built transport; `defaults` are its parse options. */
export function clientOn(t: Transport, defaults: ParseOptions): Client {
  return {
    ...queryable(
      t,
      (request, callOptions) => call<WireResult>(t, PATHS.query, request, 'rows', callOptions),
      defaults,
    ),
    async batch(statements, batchOptions = {}) {
      const { isolation, readOnly, deferrable } = batchOptions
      const body = {
        statements: statements.map((statement) =>
          typeof statement === 'string'
            ? { sql: statement }
            : { sql: statement.text, params: serializeParams(statement.values) },
        ),
        isolation,
        readOnly,
        deferrable,
        timeoutMs: statementTimeout(t, batchOptions),
      }
      const { results } = await call<BatchResult>(t, PATHS.batch, body, 'results', batchOptions)
      const decode = parseOptions(defaults, batchOptions)
      return Promise.all(results.map((result) => decodeResult(result, decode))) as never
    },
    transaction: (callback, transactionOptions) =>
      runTransaction(t, defaults, callback, transactionOptions),
    begin: (transactionOptions) => begin(t, defaults, transactionOptions),
  }
}
