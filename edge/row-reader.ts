/**
 * Reading a stream's answer (docs/protocol.md): its lines, COPY text (./copy-text.ts) or
 * NDJSON, parsed into rows as they arrive with the same codecs as `query`, between the fields
 * line and the last line; an error after the first row comes as the last line. Leaving early
 * or an abort ends the request, which tells the gateway to cancel the statement.
 */
import { parseDate, parseDateFast } from '../src/codecs/date.js'
import { asText, getTypeParser, type ParseOptions, type TypeParser } from '../src/codecs/parse.js'
import { COPY_TEXT_MEDIA_TYPE, type FieldDescription, type StreamRequest } from '../src/protocol.js'
import { copyTextLines } from './copy-text.js'
import { ClientError, errorFromResponse } from './errors.js'
import { rowObject } from './result.js'
import type { RowStream, StreamOptions, StreamTarget } from './stream.js'
import { openStream } from './stream-request.js'
import type { Transport } from './transport.js'

const DONE: IteratorResult<unknown> = { value: undefined, done: true }

/**
 * One iteration of a stream: the request is sent at the first `next()`, each chunk's lines
 * are parsed into a queue of rows, and `next()` hands out queued rows without awaiting
 * anything (a hand-written iterator: an async generator's resumption per row cost more
 * than parsing the row). `return()` (a `break`) or an abort ends the request.
 */
export class RowReader implements AsyncIterator<unknown> {
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
    const response = await openStream(
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
