/**
 * The shared, runtime-neutral base of Sluice: the wire protocol's types, the errors with
 * their stable codes, and the PostgreSQL text codecs. Web APIs only.
 */
export {
  CACHE_HEADER,
  CACHE_TAG_PATTERN,
  COPY_TEXT_MEDIA_TYPE,
  ISOLATION_LEVELS,
  MAX_BATCH_STATEMENTS,
  MAX_CACHE_TAGS,
  MAX_PARAMS,
  MAX_TIMEOUT_MS,
  NDJSON_MEDIA_TYPE,
  OPERATIONS_PATHS,
  PATHS,
  REQUEST_ID_HEADER,
} from './protocol.js'
export type {
  BatchRequest,
  BatchResult,
  BeginRequest,
  BeginResult,
  CacheRequest,
  CacheStatus,
  EndResult,
  FieldDescription,
  IsolationLevel,
  QueryRequest,
  QueryResult,
  StreamEnd,
  StreamHead,
  StreamRequest,
  TransactionOptions,
  WireParam,
  WireValue,
} from './protocol.js'
export {
  DATABASE_ERROR_FIELDS,
  ERROR_STATUS,
  RETRY_AFTER_SECONDS,
  SluiceError,
  isErrorCode,
  isSluiceError,
} from './errors.js'
export type {
  DatabaseErrorField,
  ErrorBody,
  ErrorCode,
  ErrorPayload,
  SluiceErrorOptions,
} from './errors.js'
export { parseArray } from './codecs/array.js'
export type { PgArray } from './codecs/array.js'
export { encodeBytea, parseBytea } from './codecs/bytea.js'
export { formatDate, parseDate } from './codecs/date.js'
export { Interval, parseInterval } from './codecs/interval.js'
export { getTypeParser, parseValue } from './codecs/parse.js'
export type { ParseOptions, TypeParser } from './codecs/parse.js'
export { serializeParams, serializeValue } from './codecs/serialize.js'
export type { ToPostgres } from './codecs/serialize.js'
