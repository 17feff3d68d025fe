/**
 * The Sluice edge client: `import { createClient, sql } from '@sluice/client'` (`sluice/edge`
 * in the gateway package). Zero dependencies, Web APIs only, tree-shakable.
 */
export { createClient } from './client.js'
export type { BatchOptions, BatchResults, Client, ClientOptions } from './client.js'
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
