/**
 * The `@sluice/client/stream` entry point: the edge client plus `stream` (./stream.ts), on the
 * client and inside transactions. A separate entry point, so that `sluice/edge` stays within
 * its 5 KB; it exports everything `sluice/edge` does, with this `createClient` in place of
 * that one.
 */
import { PATHS } from '../src/protocol.js'
import { clientOn, transportOf, type Client, type ClientOptions } from './client.js'
import { streamer, type Streamable } from './stream.js'
import type { Transaction, TransactionRunOptions } from './transaction.js'

/** A transaction that can also stream. */
export interface StreamingTransaction extends Transaction, Streamable {}

/** The client with `stream`. */
export interface StreamingClient extends Omit<Client, 'transaction'>, Streamable {
  /** As `Client.transaction`, with `tx.stream` too. */
  transaction<T>(
    callback: (tx: StreamingTransaction) => Promise<T>,
    options?: TransactionRunOptions,
  ): Promise<T>
}

/**
 * Creates a client that can stream results, as well as everything `sluice/edge`'s does.
 * @example
 * const db = createClient({ url: env.SLUICE_URL, token: env.SLUICE_TOKEN, timeoutMs: 300_000 })
 * for await (const order of db.stream`select * from orders where day = ${day}`) write(order)
 */
export function createClient(options: ClientOptions): StreamingClient {
  const t = transportOf(options)
  const client = clientOn(t, options)
  return {
    ...client,
    stream: streamer(t, options, { path: PATHS.query, retryAnswers: true }),
    transaction: (callback, transactionOptions) =>
      client.transaction(
        (tx) =>
          callback({
            ...tx,
            stream: streamer(t, options, {
              path: `${PATHS.transactions}/${encodeURIComponent(tx.id)}/query`,
              retryAnswers: false,
              signal: transactionOptions?.signal,
            }),
          }),
        transactionOptions,
      ),
  }
}

export type { BatchOptions, BatchResults, Client, ClientOptions } from './client.js'
export type { RowStream, StreamOptions, Streamable } from './stream.js'
export {
  ClientError,
  DatabaseError,
  GatewayError,
  isClientError,
  isDatabaseError,
  isGatewayError,
} from './errors.js'
export type { ClientCallErrorCode, ClientErrorCode, ClientErrorOptions } from './errors.js'
export type { QueryOptions, Queryable } from './queryable.js'
export type { DecodeOptions, QueryResult } from './result.js'
export type { RetryOptions } from './retry.js'
export { sql } from './sql.js'
export type { SqlQuery, SqlTag } from './sql.js'
export type { StandardSchemaV1 } from './standard-schema.js'
export type { Transaction, TransactionHandle, TransactionRunOptions } from './transaction.js'
export type { CallOptions, Fetch } from './transport.js'
export { SluiceError, isSluiceError } from '../src/errors.js'
export type { ErrorCode } from '../src/errors.js'
export { Interval } from '../src/codecs/interval.js'
export type { ParseOptions, TypeParser } from '../src/codecs/parse.js'
export type { FieldDescription, IsolationLevel } from '../src/protocol.js'
