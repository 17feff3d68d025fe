/**
 * Streaming a result: `for await (const row of db.stream(text, params))`. The gateway
 * answers with one line per row (docs/protocol.md): COPY text lines (./copy-text.ts), which
 * this client asks for first because they are cheaper to read, or NDJSON from a gateway that
 * predates them. Rows are parsed as their lines arrive, with the same codecs as `query`, so
 * memory stays flat whatever the result's size. Leaving the loop early (`break`, `return`, a throw) or aborting
 * the signal aborts the request, and the gateway then cancels the statement. An error after
 * the first row arrives as the stream's last line and is thrown as the usual class.
 */
import { parseDate, parseDateFast } from '../src/codecs/date.js'
import { asText, getTypeParser, type ParseOptions, type TypeParser } from '../src/codecs/parse.js'
import { serializeParams } from '../src/codecs/serialize.js'
import {
  COPY_TEXT_MEDIA_TYPE,
  NDJSON_MEDIA_TYPE,
  type FieldDescription,
  type StreamRequest,
} from '../src/protocol.js'
import { copyTextLines } from './copy-text.js'
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

/** COPY text first; NDJSON from a gateway without it. */
const ACCEPT = `${COPY_TEXT_MEDIA_TYPE}, ${NDJSON_MEDIA_TYPE};q=0.5`

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
        headers: { ...t.headers, accept: ACCEPT },
        body: JSON.stringify(body),
        signal: controller.signal,
      })
      // Rows come as NDJSON or COPY text; anything else (a proxy's page) is a bad response.
      const type = (response.headers.get('content-type') ?? '').toLowerCase()
      if (
        response.ok &&
        response.body &&
        (type.startsWith(NDJSON_MEDIA_TYPE) || type.startsWith(COPY_TEXT_MEDIA_TYPE))
      )
        return response
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
  const stream: RowStream<unknown> & { [Symbol.asyncIterator](): AsyncIterator<unknown> } = {
    fields: undefined,
    command: undefined,
    rowCount: undefined,
    [Symbol.asyncIterator]: () => new RowReader(t, target, request, options, parse, stream),
  }
  return stream
}

const DONE: IteratorResult<unknown> = { value: undefined, done: true }

/**
 * One iteration of a stream: the request is sent at the first `next()`, each chunk's lines
 * are parsed into a queue of rows, and `next()` hands out queued rows without awaiting
 * anything (a hand-written iterator: an async generator's resumption per row cost more
 * than parsing the row). `return()` (a `break`) or an abort ends the request.
 */
class RowReader implements AsyncIterator<unknown> {
  private rows: unknown[] = []
  private at = 0
  private readonly controller = new AbortController()
  private readonly signals: (AbortSignal | undefined)[]
  private timer: ReturnType<typeof setTimeout> | undefined
  private timedOut = false
  private started = false
  private closed = false
  private response: Response | undefined
  private reader: ReadableStreamDefaultReader<Uint8Array> | undefined
  private readonly decoder = new TextDecoder()
  private copyText = false
  private rest = ''
  private parsers: (TypeParser | undefined)[] = []
  /** The fields line came (a stream iterated again has its fields from the last time). */
  private hasFields = false
  /** What ends the rows queued so far: the summary line's values, or an error to throw. */
  private summary: { command: string; rowCount: number | null } | undefined
  private failure: unknown
  private failed = false

  constructor(
    private readonly t: Transport,
    private readonly target: StreamTarget,
    private readonly request: StreamRequest,
    private readonly options: StreamOptions,
    private readonly parse: ParseOptions,
    private readonly stream: RowStream<unknown>,
  ) {
    this.signals = [options.signal, target.signal]
  }

  next(): Promise<IteratorResult<unknown>> {
    if (this.at < this.rows.length)
      return Promise.resolve({ value: this.rows[this.at++], done: false })
    return this.refill()
  }

  return(): Promise<IteratorResult<unknown>> {
    this.close()
    return Promise.resolve(DONE)
  }

  private readonly abort = (): void =>
    this.controller.abort(this.signals.find((s) => s?.aborted)?.reason)

  private async refill(): Promise<IteratorResult<unknown>> {
    if (this.closed) return DONE
    try {
      if (!this.started) await this.start()
      for (;;) {
        if (this.at < this.rows.length) return { value: this.rows[this.at++], done: false }
        if (this.failed) throw this.failure
        if (this.summary) {
          await this.drain()
          Object.assign(this.stream, this.summary)
          this.close()
          return DONE
        }
        await this.readChunk()
      }
    } catch (error) {
      this.close()
      // Whatever the gateway said after the caller's abort, the abort is the answer.
      const aborted = this.signals.find((s) => s?.aborted)
      throw aborted ? aborted.reason : error
    }
  }

  private async start(): Promise<void> {
    this.started = true
    const timeoutMs = this.options.timeoutMs ?? this.t.timeoutMs
    this.timer = setTimeout(() => {
      this.timedOut = true
      this.controller.abort()
    }, timeoutMs)
    for (const signal of this.signals) signal?.addEventListener('abort', this.abort, { once: true })
    for (const signal of this.signals) signal?.throwIfAborted()
    const deadline = Date.now() + timeoutMs
    const response = await open(
      this.t,
      this.target,
      this.request,
      deadline,
      this.controller,
      () => this.timedOut,
    )
    this.response = response
    this.reader = response.body!.getReader()
    // Only NDJSON or COPY text gets here (`open`), in any case.
    this.copyText = response.headers
      .get('content-type')!
      .toLowerCase()
      .startsWith(COPY_TEXT_MEDIA_TYPE)
  }

  /** The next chunk of the body, or undefined at its end. */
  private async read(): Promise<Uint8Array | undefined> {
    try {
      const chunk = await this.reader!.read()
      return chunk.done ? undefined : chunk.value
    } catch (error) {
      if (this.controller.signal.aborted && !this.timedOut) throw this.controller.signal.reason
      throw new ClientError(
        this.timedOut ? 'CLIENT_TIMEOUT' : 'NETWORK_ERROR',
        this.timedOut ? 'the stream did not end in time' : 'the stream broke off',
        { cause: error },
      )
    }
  }

  /** Reads to the end of the body after its last line, so the connection can be kept. */
  private async drain(): Promise<void> {
    let bytes: string | Uint8Array | undefined = this.rest
    for (; bytes !== undefined; bytes = await this.read()) {
      if (bytes.length > 0) throw this.bad('text after its last line')
    }
  }

  /** Reads one chunk and queues its rows (and what ends them, if it came). */
  private async readChunk(): Promise<void> {
    const bytes = await this.read()
    if (bytes === undefined) {
      throw new ClientError('NETWORK_ERROR', 'the stream ended before its last line')
    }
    const fresh = this.decoder.decode(bytes, { stream: true })
    // Only the new text can hold a newline: searching the whole of a long row's text again
    // for each of its chunks made it quadratic (a 32 MiB row took 9 s).
    const freshCut = fresh.lastIndexOf('\n')
    if (freshCut < 0) {
      this.rest += fresh
      return
    }
    const text = this.rest + fresh
    const cut = this.rest.length + freshCut
    this.rest = text.slice(cut + 1)
    // Raw newlines only ever end lines (both formats escape those in values): every complete
    // line of the chunk at once, for NDJSON in one parse.
    let lines: unknown[]
    try {
      lines = this.copyText
        ? copyTextLines(text, cut)
        : (JSON.parse(`[${text.slice(0, cut).replaceAll('\n', ',')}]`) as unknown[])
    } catch (error) {
      throw this.bad('a line that is not JSON', error)
    }
    const rows: unknown[] = []
    const options = this.options
    let parsers = this.parsers
    const schema = options.schema
    for (const line of lines) {
      // Rows between the fields line and the last line, nothing else: a stream that is not
      // the protocol's must not pass for a complete one.
      if (this.summary) {
        this.fail(this.bad('a line after its last line'))
        break
      }
      if (Array.isArray(line)) {
        if (!this.hasFields) {
          this.fail(this.bad('a row before the fields line'))
          break
        }
        const values = line as unknown[]
        // An empty COPY text line is a row of one empty value, or of no columns.
        if (parsers.length === 0) values.length = 0
        for (let i = 0; i < values.length; i++) {
          const parser = parsers[i]
          const text = values[i] as string | null
          if (parser !== undefined && text !== null) values[i] = parser(text)
        }
        let row: unknown =
          options.rowMode === 'array' ? values : rowObject(this.stream.fields!, values)
        if (schema) {
          const outcome = await schema['~standard'].validate(row)
          if (outcome.issues) {
            this.fail(
              new ClientError('VALIDATION_ERROR', 'a row does not match the schema', {
                issues: outcome.issues,
              }),
            )
            break
          }
          row = outcome.value
        }
        rows.push(row)
      } else {
        const item = (line ?? {}) as { fields?: FieldDescription[]; error?: unknown } & {
          command?: unknown
          rowCount: number | null
        }
        if (item.error !== undefined) {
          this.fail(errorFromResponse(item, this.response!))
          break
        }
        if (!this.hasFields && Array.isArray(item.fields)) parsers = this.setFields(item.fields)
        else if (this.hasFields && typeof item.command === 'string')
          this.summary = { command: item.command, rowCount: item.rowCount }
        else {
          this.fail(this.bad('a line that is neither a row, the fields nor the last line'))
          break
        }
      }
    }
    this.rows = rows
    this.at = 0
  }

  /** Takes the fields line; answers the parsers of its columns. */
  private setFields(fields: FieldDescription[]): (TypeParser | undefined)[] {
    this.hasFields = true
    ;(this.stream as { fields: FieldDescription[] }).fields = fields
    return (this.parsers = fields.map((f) => {
      const parser = getTypeParser(f.dataTypeID, this.parse)
      // Text stays as it is; many rows: the faster date parser, same answers.
      return parser === asText ? undefined : parser === parseDate ? parseDateFast : parser
    }))
  }

  /** BAD_RESPONSE: the answer is not a stream of the protocol (a proxy's page, a cut). */
  private bad(what: string, cause?: unknown): ClientError {
    return new ClientError('BAD_RESPONSE', `not a stream from the gateway: ${what}`, {
      status: this.response!.status,
      cause,
    })
  }

  private fail(error: unknown): void {
    this.failed = true
    this.failure = error
  }

  private close(): void {
    if (this.closed) return
    this.closed = true
    clearTimeout(this.timer)
    for (const signal of this.signals) signal?.removeEventListener('abort', this.abort)
    // Left early: closing the request is what tells the gateway to cancel (a fetch that
    // ignores its signal, such as an in-process app's, hears of it from the reader).
    this.controller.abort()
    this.reader?.cancel().catch(() => {})
  }
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
