/**
 * The Sluice HTTP protocol, v1, as plain types: the one declaration that the gateway's
 * validators and the edge client both follow. See shared PROTOCOL.md and docs/protocol.md.
 */

/** Most parameters of one statement: PostgreSQL's own limit (a 16-bit count). */
export const MAX_PARAMS = 65_535

/** Longest `timeoutMs` or `idleTimeoutMs` a request may ask for: one day. */
export const MAX_TIMEOUT_MS = 86_400_000

/** Most statements in one `/v1/batch`. */
export const MAX_BATCH_STATEMENTS = 1000

/** A statement parameter on the wire. Numbers and booleans travel as their text form. */
export type WireParam = string | number | boolean | null

/** Transaction isolation levels accepted by `/v1/batch` and `/v1/transactions`. */
export const ISOLATION_LEVELS = ['read committed', 'repeatable read', 'serializable'] as const

/** One of {@link ISOLATION_LEVELS}. */
export type IsolationLevel = (typeof ISOLATION_LEVELS)[number]

/** Most tags on one cached read. */
export const MAX_CACHE_TAGS = 16

/** A cache tag: 1 to 64 characters of `A-Z a-z 0-9 _ . : / -`. */
export const CACHE_TAG_PATTERN = /^[A-Za-z0-9_.:/-]{1,64}$/

/**
 * Asks `/v1/query` to answer a plain read from the gateway's cache (docs/cache.md). Ignored
 * by batches and transactions, whose reads must see their own writes.
 */
export interface CacheRequest {
  /** How long a result stays fresh. @default the tenant's cache.defaultTtlMs */
  ttlMs?: number | undefined
  /** How much longer a result may be served stale while one refresh runs. @default 0 */
  swrMs?: number | undefined
  /** Names for purging by tag (the admin API). */
  tags?: string[] | undefined
}

/** The answer header that says how `/v1/query` used the cache: `hit`, `miss`, `stale` or `bypass`. */
export const CACHE_HEADER = 'Sluice-Cache'

/** The values of {@link CACHE_HEADER}. */
export type CacheStatus = 'hit' | 'miss' | 'stale' | 'bypass'

/** Body of `POST /v1/query`, and of each statement of a batch. */
export interface QueryRequest {
  sql: string
  params?: WireParam[] | undefined
  /** Cancels the statement after this many milliseconds; capped by the tenant's limit. */
  timeoutMs?: number | undefined
  /** Opt-in caching of a plain read (`/v1/query` only). */
  cache?: CacheRequest | undefined
}

/** A result column: its name and PostgreSQL type OID, plus whatever else the gateway adds. */
export interface FieldDescription {
  name: string
  dataTypeID: number
  tableID?: number | undefined
  columnID?: number | undefined
  dataTypeSize?: number | undefined
  dataTypeModifier?: number | undefined
}

/** A value as PostgreSQL printed it (text output), or `null`. */
export type WireValue = string | null

/** Response of `POST /v1/query`. */
export interface QueryResult {
  command: string
  rowCount: number | null
  fields: FieldDescription[]
  rows: WireValue[][]
}

/**
 * The media type of a streamed result: send it in `Accept` on `/v1/query` or
 * `/v1/transactions/{id}/query` and the rows come as NDJSON lines (docs/protocol.md).
 */
export const NDJSON_MEDIA_TYPE = 'application/x-ndjson'

/**
 * The media type of a streamed result as COPY text lines: the same rows, each value in
 * PostgreSQL's COPY text form, separated by tabs, the first and last lines JSON after a
 * backslash (docs/protocol.md). Cheaper to write and to read than NDJSON.
 */
export const COPY_TEXT_MEDIA_TYPE = 'application/x-sluice-copy-text'

/** Body of a streamed query: a {@link QueryRequest} that may choose how rows are printed. */
export interface StreamRequest extends QueryRequest {
  /** Each row line as an array in column order, or an object keyed by column name. @default 'array' */
  rowMode?: 'array' | 'object' | undefined
}

/** First line of a stream. */
export interface StreamHead {
  fields: FieldDescription[]
}

/** Last line of a stream that succeeded; a failed one ends with an {@link ErrorBody} line. */
export interface StreamEnd {
  command: string
  rowCount: number | null
}

/** Transaction options shared by batches and interactive transactions. */
export interface TransactionOptions {
  isolation?: IsolationLevel | undefined
  readOnly?: boolean | undefined
  deferrable?: boolean | undefined
}

/** Body of `POST /v1/batch`: statements run in order in one transaction, all or nothing. */
export interface BatchRequest extends TransactionOptions {
  statements: QueryRequest[]
  /** Deadline for the whole batch; capped by the tenant's limit. */
  timeoutMs?: number | undefined
}

/** Response of `POST /v1/batch`. */
export interface BatchResult {
  results: QueryResult[]
}

/** Body of `POST /v1/transactions`. */
export interface BeginRequest extends TransactionOptions {
  /** Rolled back after this long without a statement. */
  idleTimeoutMs?: number | undefined
  /** Rolled back after this long in all. */
  timeoutMs?: number | undefined
}

/** Response of `POST /v1/transactions` (status 201). */
export interface BeginResult {
  id: string
  expiresAt: string
}

/** Response of commit (`committed: true`) and rollback (`committed: false`). */
export interface EndResult {
  committed: boolean
}

/** The HTTP paths of protocol v1's API (POST). */
export const PATHS = {
  query: '/v1/query',
  batch: '/v1/batch',
  transactions: '/v1/transactions',
} as const

/**
 * The gateway's operational paths (GET). Apart from {@link PATHS} so that the edge client,
 * which calls only the API, does not carry them in its bundle.
 */
export const OPERATIONS_PATHS = {
  healthz: '/healthz',
  readyz: '/readyz',
  metrics: '/metrics',
} as const

/** Header carrying the request id on every response (and honoured on requests). */
export const REQUEST_ID_HEADER = 'X-Request-Id'
