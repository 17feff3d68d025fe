/**
 * Streaming a result: `for await (const row of db.stream(text, params))`. The gateway
 * answers with one line per row (docs/protocol.md): COPY text lines (./copy-text.ts), which
 * this client asks for first because they are cheaper to read, or NDJSON from a gateway that
 * predates them. Rows are parsed as their lines arrive, with the same codecs as `query`, so
 * memory stays flat whatever the result's size. Leaving the loop early (`break`, `return`, a throw) or aborting
 * the signal aborts the request, and the gateway then cancels the statement. An error after
 * the first row arrives as the stream's last line and is thrown as the usual class.
 *
 * This file holds the API and builds the streams; ./stream-request.ts sends a stream's
 * request and ./row-reader.ts reads its answer.
 */
import type { ParseOptions } from '../src/codecs/parse.js'
import { serializeParams } from '../src/codecs/serialize.js'
import type { FieldDescription, StreamRequest } from '../src/protocol.js'
import { parseOptions } from './queryable.js'
import type { DecodeOptions } from './result.js'
import { RowReader } from './row-reader.js'
import { sql as buildSql, type SqlQuery } from './sql.js'
import type { StandardSchemaV1 } from './standard-schema.js'
import { statementTimeout, type CallOptions, type Transport } from './transport.js'

/** Options of one stream: how its rows are decoded, its deadline and its signal. */
export interface StreamOptions extends DecodeOptions, CallOptions {}

/** A streamed result: its rows as they arrive; `fields` and the command tag once known. */
export interface RowStream<Row> extends AsyncIterable<Row> {
  /** The columns, once the first line arrived. */
  readonly fields: FieldDescription[] | undefined
  /** The command tag's verb (`SELECT`, …), once every row was read. */
  readonly command: string | undefined
  /** Rows returned or affected, per the command tag, once every row was read. */
  readonly rowCount: number | null | undefined
}

type Params = readonly unknown[] | undefined
type Output<S extends StandardSchemaV1> = StandardSchemaV1.InferOutput<S>

/** Runs one statement and streams its rows. */
export interface Streamable {
  /**
   * Streams a statement's rows; `params` are sent as PostgreSQL text. The whole stream is
   * bounded by `timeoutMs` (also the statement's timeout), so give a long export a long one.
   * @example for await (const row of db.stream('select * from events where day = $1', [day])) …
   */
  stream<S extends StandardSchemaV1>(
    text: string,
    params: Params,
    options: StreamOptions & { schema: S },
  ): RowStream<Output<S>>
  stream<Row = Record<string, unknown>>(
    text: string,
    params?: Params,
    options?: StreamOptions,
  ): RowStream<Row>
  stream<Row = Record<string, unknown>>(
    query: SqlQuery<Row>,
    options?: StreamOptions,
  ): RowStream<Row>
  /**
   * The streaming form of the `sql` tag: values become parameters.
   * @example for await (const user of db.stream`select * from users where org = ${org}`) …
   */
  stream<Row = Record<string, unknown>>(
    template: TemplateStringsArray,
    ...values: unknown[]
  ): RowStream<Row>
}

/** Where a stream is sent and what applies to it. */
export interface StreamTarget {
  path: string
  /** Retry answers the gateway marks retryable (not inside a transaction). */
  retryAnswers: boolean
  /** Also aborts the stream (a transaction's signal). */
  signal?: AbortSignal | undefined
}

/** One stream: sends when iterated, parses the lines, aborts when left. */
function rowStream(
  t: Transport,
  target: StreamTarget,
  request: StreamRequest,
  options: StreamOptions,
  parse: ParseOptions,
): RowStream<unknown> {
  const stream: RowStream<unknown> & { [Symbol.asyncIterator](): AsyncIterator<unknown> } = {
    fields: undefined,
    command: undefined,
    rowCount: undefined,
    [Symbol.asyncIterator]: () => new RowReader(t, target, request, options, parse, stream),
  }
  return stream
}

/** Builds `stream` for `target` on `t`; `defaults` are the client's parse options. */
export function streamer(
  t: Transport,
  defaults: ParseOptions,
  target: StreamTarget,
): Streamable['stream'] {
  return ((first: string | SqlQuery<unknown> | TemplateStringsArray, ...rest: unknown[]) => {
    let text: string
    let values: readonly unknown[] | undefined
    let options: StreamOptions
    if (typeof first === 'string') {
      text = first
      values = rest[0] as Params
      options = (rest[1] as StreamOptions | undefined) ?? {}
    } else if (Array.isArray(first) && 'raw' in first) {
      ;({ text, values } = buildSql(first as TemplateStringsArray, ...rest))
      options = {}
    } else {
      ;({ text, values } = first as SqlQuery<unknown>)
      options = (rest[0] as StreamOptions | undefined) ?? {}
    }
    const request: StreamRequest = {
      sql: text,
      params: serializeParams(values ?? []),
      timeoutMs: statementTimeout(t, options),
    }
    return rowStream(t, target, request, options, parseOptions(defaults, options))
  }) as Streamable['stream']
}
