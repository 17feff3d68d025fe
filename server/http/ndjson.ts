/**
 * A streamed result as NDJSON (`Accept: application/x-ndjson`, docs/protocol.md): a first
 * line with the fields, one line per row (PostgreSQL's text values, as arrays or objects),
 * and a last line with the command tag and row count, or the usual error body when the
 * statement fails after the answer began. The status line is written with the first row (or
 * the end), so a statement that fails before any row gets an ordinary error answer.
 *
 * Rows are gathered into one write per chunk PostgreSQL sent, or per
 * {@link SEND_CHUNK_CHARS}; when the client's socket does not take a write, the rows are
 * paused at the database until it drains. What a stream holds is thus one such write plus
 * the rows of one socket read, whatever the result's size.
 */
import type { ErrorBody } from '../../src/errors.js'
import type { FieldDescription, WireValue } from '../../src/protocol.js'
import type { Flow, StreamSink, StreamSummary } from '../engine/stream.js'
import { SEND_CHUNK_CHARS } from './send.js'

/** How rows are printed: arrays in column order, or objects keyed by column name. */
export type RowMode = 'array' | 'object'

/** Where a stream's text goes, with backpressure: Node's response, or a web stream. */
export interface StreamTarget {
  /** Starts the answer: status 200 with `headers`. */
  open(headers: Record<string, string>): void
  /** Writes `text`; false when the client is not keeping up (then wait for `onDrain`). */
  write(text: string): boolean
  /** Calls `listener` once, when the client has caught up. */
  onDrain(listener: () => void): void
  /** Writes `text` and ends the answer. */
  end(text: string): void
  /** The client went away: nothing written reaches anyone. */
  readonly closed: boolean
}

/** Writes one stream as NDJSON; the engine feeds it as a {@link StreamSink}. */
export class NdjsonWriter implements StreamSink {
  /** The status line and the first line were written. */
  opened = false
  private flow: Flow | undefined
  private head = '{"fields":[]}\n'
  private keys: string[] | undefined
  private pending = ''
  private scheduled = false
  private waiting = false
  private readonly flushSoon = (): void => {
    this.scheduled = false
    this.flush()
  }

  constructor(
    private readonly target: StreamTarget,
    private readonly rowMode: RowMode,
    private readonly headers: Record<string, string>,
  ) {}

  begin(flow: Flow): void {
    this.flow = flow
  }

  fields(fields: FieldDescription[]): void {
    this.head = `${JSON.stringify({ fields })}\n`
    if (this.rowMode === 'object') this.keys = fields.map((f) => `${JSON.stringify(f.name)}:`)
  }

  row(values: WireValue[]): void {
    if (!this.opened) this.open()
    this.pending += this.line(values)
    if (this.pending.length >= SEND_CHUNK_CHARS) this.flush()
    else if (!this.scheduled) {
      // Every row of one socket read arrives in the same turn: write them together after it.
      this.scheduled = true
      queueMicrotask(this.flushSoon)
    }
  }

  /** Ends the stream with its summary line. */
  finish(summary: StreamSummary): void {
    if (!this.opened) this.open()
    this.end(`${JSON.stringify({ command: summary.command, rowCount: summary.rowCount })}\n`)
  }

  /**
   * Ends a stream that already began with an error line, and answers true; answers false
   * when nothing was written yet, so that the caller sends an ordinary error answer.
   */
  fail(body: ErrorBody): boolean {
    if (!this.opened) return false
    this.end(`${JSON.stringify(body)}\n`)
    return true
  }

  private open(): void {
    this.opened = true
    this.target.open(this.headers)
    this.pending = this.head
  }

  private line(values: WireValue[]): string {
    const keys = this.keys
    if (keys === undefined) return `${JSON.stringify(values)}\n`
    let text = '{'
    for (let i = 0; i < values.length; i++) {
      if (i > 0) text += ','
      text += keys[i]! + JSON.stringify(values[i])
    }
    return `${text}}\n`
  }

  private flush(): void {
    const text = this.pending
    this.pending = ''
    if (text === '' || this.target.closed) return
    if (this.target.write(text) || this.waiting) return
    this.waiting = true
    this.flow?.pause()
    this.target.onDrain(() => {
      this.waiting = false
      this.flow?.resume()
    })
  }

  private end(last: string): void {
    const text = this.pending + last
    this.pending = ''
    if (!this.target.closed) this.target.end(text)
  }
}
