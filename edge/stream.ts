/**
 * Streaming a result: `for await (const row of db.stream(text, params))`. The gateway
 * answers `Accept: application/x-ndjson` with one line per row (docs/protocol.md); rows are
 * parsed as their lines arrive, with the same codecs as `query`, so memory stays flat
 * whatever the result's size. Leaving the loop early (`break`, `return`, a throw) or aborting
 * the signal aborts the request, and the gateway then cancels the statement. An error after
 * the first row arrives as the stream's last line and is thrown as the usual class.
 */
import { parseDate, parseDateFast } from '../src/codecs/date.js'
import { getTypeParser, type ParseOptions, type TypeParser } from '../src/codecs/parse.js'
import { serializeParams } from '../src/codecs/serialize.js'
import { NDJSON_MEDIA_TYPE, type FieldDescription, type StreamRequest } from '../src/protocol.js'
import { ClientError, errorFromResponse, isClientError, isGatewayError } from './errors.js'
import { parseOptions } from './queryable.js'
import { rowObject, type DecodeOptions } from './result.js'
import { backoff, neverSent } from './retry.js'
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

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Sends the request until a response is had, retrying where safe before any row. */
async function open(
  t: Transport,
  target: StreamTarget,
  body: StreamRequest,
  deadline: number,
  controller: AbortController,
  timedOut: () => boolean,
): Promise<Response> {
  for (let n = 0; ; n++) {
    let failure: unknown
    try {
      const response = await t.fetch(t.url + target.path, {
        method: 'POST',
        headers: { ...t.headers, accept: NDJSON_MEDIA_TYPE },
        body: JSON.stringify(body),
        signal: controller.signal,
      })
      if (response.ok && response.body) return response
      const text = await response.text()
      let json: unknown
      try {
        json = JSON.parse(text)
      } catch {
        // Not JSON: a bad response, below.
      }
      failure = errorFromResponse(json, response)
    } catch (error) {
      if (controller.signal.aborted && !timedOut()) throw controller.signal.reason
      failure = new ClientError(
        timedOut() ? 'CLIENT_TIMEOUT' : 'NETWORK_ERROR',
        timedOut() ? 'no answer from the gateway in time' : 'the request to the gateway failed',
        { retryable: !timedOut() && neverSent(error), cause: error },
      )
    }
    const safe = isClientError(failure)
      ? failure.retryable
      : isGatewayError(failure) && failure.retryable && target.retryAnswers
    if (!safe || t.retry === false || n >= t.retry.retries) throw failure
    const wait = backoff(t.retry, n, isGatewayError(failure) ? failure.retryAfter : 0)
    if (Date.now() + wait >= deadline) throw failure
    await sleep(wait)
  }
}

/** One stream: sends when iterated, parses the lines, aborts when left. */
function rowStream(
  t: Transport,
  target: StreamTarget,
  request: StreamRequest,
  options: StreamOptions,
  parse: ParseOptions,
): RowStream<unknown> {
  const stream = {
    fields: undefined as FieldDescription[] | undefined,
    command: undefined as string | undefined,
    rowCount: undefined as number | null | undefined,
    async *[Symbol.asyncIterator](): AsyncGenerator<unknown> {
      const controller = new AbortController()
      let timedOut = false
      const timer = setTimeout(() => {
        timedOut = true
        controller.abort()
      }, options.timeoutMs ?? t.timeoutMs)
      const signals = [options.signal, target.signal]
      const abort = (): void => controller.abort(signals.find((s) => s?.aborted)?.reason)
      for (const signal of signals) signal?.addEventListener('abort', abort, { once: true })
      let reader: ReadableStreamDefaultReader<Uint8Array> | undefined
      try {
        for (const signal of signals) signal?.throwIfAborted()
        const deadline = Date.now() + (options.timeoutMs ?? t.timeoutMs)
        const response = await open(t, target, request, deadline, controller, () => timedOut)
        reader = response.body!.getReader()
        const decoder = new TextDecoder()
        const schema = options.schema
        let parsers: TypeParser[] = []
        let rest = ''
        let ended = false
        for (;;) {
          let chunk: ReadableStreamReadResult<Uint8Array>
          try {
            chunk = await reader.read()
          } catch (error) {
            if (controller.signal.aborted && !timedOut) throw controller.signal.reason
            throw new ClientError(
              timedOut ? 'CLIENT_TIMEOUT' : 'NETWORK_ERROR',
              timedOut ? 'the stream did not end in time' : 'the stream broke off',
              { cause: error },
            )
          }
          if (chunk.done) break
          const text = rest + decoder.decode(chunk.value, { stream: true })
          const cut = text.lastIndexOf('\n')
          if (cut < 0) {
            rest = text
            continue
          }
          rest = text.slice(cut + 1)
          // Raw newlines only ever end lines (JSON escapes those in strings): one parse for
          // every complete line of the chunk.
          const lines = JSON.parse(`[${text.slice(0, cut).replaceAll('\n', ',')}]`) as unknown[]
          for (const line of lines) {
            if (Array.isArray(line)) {
              const values = line as unknown[]
              for (let i = 0; i < values.length; i++) {
                const text = values[i] as string | null
                if (text !== null) values[i] = parsers[i]!(text)
              }
              let row: unknown =
                options.rowMode === 'array' ? values : rowObject(stream.fields!, values)
              if (schema) {
                const outcome = await schema['~standard'].validate(row)
                if (outcome.issues) {
                  throw new ClientError('VALIDATION_ERROR', 'a row does not match the schema', {
                    issues: outcome.issues,
                  })
                }
                row = outcome.value
              }
              yield row
            } else {
              const item = line as { fields?: FieldDescription[]; error?: unknown } & {
                command: string
                rowCount: number | null
              }
              if (item.error !== undefined) throw errorFromResponse(item, response)
              if (item.fields) {
                stream.fields = item.fields
                parsers = item.fields.map((f) => {
                  const parser = getTypeParser(f.dataTypeID, parse)
                  // Many rows: the faster date parser, same answers.
                  return parser === parseDate ? parseDateFast : parser
                })
              } else {
                stream.command = item.command
                stream.rowCount = item.rowCount
                ended = true
              }
            }
          }
        }
        if (!ended) {
          throw new ClientError('NETWORK_ERROR', 'the stream ended before its last line')
        }
      } catch (error) {
        // Whatever the gateway said after the caller's abort, the abort is the answer.
        const aborted = signals.find((s) => s?.aborted)
        throw aborted ? aborted.reason : error
      } finally {
        clearTimeout(timer)
        for (const signal of signals) signal?.removeEventListener('abort', abort)
        // Left early: closing the request is what tells the gateway to cancel (a fetch that
        // ignores its signal, such as an in-process app's, hears of it from the reader).
        controller.abort()
        reader?.cancel().catch(() => {})
      }
    },
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
