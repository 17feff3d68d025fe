/**
 * Neon's HTTP wire format (`POST /sql`), as `@neondatabase/serverless` and Neon's proxy speak
 * it: the headers, the request bodies and the result and error shapes. Sluice speaks it so
 * `neon()`, Drizzle's `neon-http` and the ORMs built on them work against it unchanged.
 */
import type { DatabaseErrorField } from '../../../src/errors.js'

/** The request headers of Neon's HTTP protocol (HTTP header names are case-insensitive). */
export const NEON_HEADERS = {
  /** `postgresql://user:<token>@host/db`: Sluice reads the token from the password. */
  connectionString: 'Neon-Connection-String',
  /** `true`: every value is PostgreSQL's text output; otherwise typed JSON values. */
  rawTextOutput: 'Neon-Raw-Text-Output',
  /** `true`: rows are arrays; otherwise objects keyed by column name. */
  arrayMode: 'Neon-Array-Mode',
  /** A batch's isolation level, one of {@link NEON_ISOLATION_LEVELS}. */
  isolationLevel: 'Neon-Batch-Isolation-Level',
  /** `true`: the batch runs READ ONLY. */
  readOnly: 'Neon-Batch-Read-Only',
  /** `true`: the batch runs DEFERRABLE. */
  deferrable: 'Neon-Batch-Deferrable',
} as const

/** The values of `Neon-Batch-Isolation-Level`. */
export const NEON_ISOLATION_LEVELS = [
  'ReadUncommitted',
  'ReadCommitted',
  'RepeatableRead',
  'Serializable',
] as const

/** One of {@link NEON_ISOLATION_LEVELS}. */
export type NeonIsolationLevel = (typeof NEON_ISOLATION_LEVELS)[number]

/** A JSON value, as a parameter or a typed (non-raw) result value. */
export type NeonJson = string | number | boolean | null | NeonJson[] | { [key: string]: NeonJson }

/** One statement: `{ query, params }`; `arrayMode` overrides the `Neon-Array-Mode` header. */
export interface NeonQuery {
  query: string
  params?: NeonJson[] | undefined
  arrayMode?: boolean | undefined
}

/** A transaction: `{ queries: [...] }`, run in order, all or nothing. */
export interface NeonBatch {
  queries: NeonQuery[]
}

/** A result column, as pg's `FieldDef`. */
export interface NeonField {
  name: string
  dataTypeID: number
  tableID: number
  columnID: number
  dataTypeSize: number
  dataTypeModifier: number
  format: 'text'
}

/** The answer to one statement. */
export interface NeonQueryResult {
  fields: NeonField[]
  command: string
  /** From the command tag; `null` where PostgreSQL gives none. */
  rowCount: number | null
  rows: unknown[][] | Record<string, unknown>[]
  rowAsArray: boolean
}

/** The answer to a batch. */
export interface NeonBatchResult {
  results: NeonQueryResult[]
}

/**
 * An error body: `message`, `code` (a SQLSTATE) and whichever PostgreSQL fields the
 * database sent. `sluiceCode` is Sluice's own stable error code (extra keys are ignored by
 * Neon's clients).
 */
export interface NeonErrorBody extends Partial<
  Record<Exclude<DatabaseErrorField, 'sqlstate'>, string>
> {
  message: string
  code: string
  sluiceCode: string
}
