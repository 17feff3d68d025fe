/**
 * A streamed result (docs/protocol.md "Streaming results"), in either of its two formats
 * (./stream-formats.ts): a first line with the fields, one line per row, and a last line
 * with the command tag and row count, or the usual error body when the statement fails
 * after the answer began. The status line is written with the first row (or the end), so a
 * statement that fails before any row gets an ordinary error answer.
 *
 * Rows come as PostgreSQL's bytes and are encoded straight to text (./row-encoder.ts),
 * gathered into one write per chunk PostgreSQL sent, or per {@link SEND_CHUNK_CHARS} bytes;
 * when the client's socket does not take a write, the rows are paused at the database until
 * it drains. What a stream holds is thus one such write plus the rows of one socket read,
 * whatever the result's size.
 */
import type { ErrorBody } from '../../src/errors.js'
import type { FieldDescription, WireValue } from '../../src/protocol.js'
import type { Flow, StreamSink, StreamSummary } from '../engine/stream.js'
import { RowEncoder } from './row-encoder.js'
import { SEND_CHUNK_CHARS } from './send.js'
import type { StreamFormat } from './stream-formats.js'

/** Where a stream's bytes go, with backpressure: Node's response, or a web stream. */
export interface StreamTarget {
  /** Starts the answer: status 200 with `headers`. */
  open(headers: Record<string, string>): void
  /** Writes `bytes`; false when the client is not keeping up (then wait for `onDrain`). */
  write(bytes: Uint8Array): boolean
  /** Calls `listener` once, when the client has caught up. */
  onDrain(listener: () => void): void
  /** Writes `bytes` and ends the answer. */
  end(bytes: Uint8Array): void
  /** The client went away: nothing written reaches anyone. */
  readonly closed: boolean
}

/** Writes one stream in its format; the engine feeds it as a {@link StreamSink}. */
export class StreamWriter implements StreamSink {
  /** The status line and the first line were written. */
  opened = false
  private flow: Flow | undefined
  private head: string
  private readonly encoder = new RowEncoder(SEND_CHUNK_CHARS + 4096)
  private scheduled = false
  private waiting = false
  private readonly flushSoon = (): void => {
    this.scheduled = false
    this.flush()
  }

  constructor(
    private readonly target: StreamTarget,
    private readonly format: StreamFormat,
    /** The answer's headers, made when it begins. */
    private readonly headers: () => Record<string, string>,
  ) {
    this.head = format.head([])
  }

  begin(flow: Flow): void {
    this.flow = flow
  }

  fields(fields: FieldDescription[]): void {
    this.head = this.format.head(fields)
    this.format.prepare(this.encoder, fields)
  }

  rawRow(bytes: Buffer, start: number, end: number): void {
    if (!this.opened) this.open()
    this.format.rawRow(this.encoder, bytes, start, end)
    this.written()
  }

  row(values: WireValue[]): void {
    if (!this.opened) this.open()
    this.encoder.text(this.format.row(values, this.encoder.keys))
    this.written()
  }

  /** Ends the stream with its summary line. */
  finish(summary: StreamSummary): void {
    if (!this.opened) this.open()
    this.end(this.format.end({ command: summary.command, rowCount: summary.rowCount }))
  }

  /**
   * Ends a stream that already began with an error line, and answers true; answers false
   * when nothing was written yet, so that the caller sends an ordinary error answer.
   */
  fail(body: ErrorBody): boolean {
    if (!this.opened) return false
    this.end(this.format.end(body))
    return true
  }

  private open(): void {
    this.opened = true
    this.target.open(this.headers())
    this.encoder.text(this.head)
  }

  private written(): void {
    if (this.encoder.length >= SEND_CHUNK_CHARS) this.flush()
    else if (!this.scheduled) {
      // Every row of one socket read arrives in the same turn: write them together after it.
      this.scheduled = true
      queueMicrotask(this.flushSoon)
    }
  }

  private flush(): void {
    if (this.encoder.length === 0) return
    const bytes = this.encoder.take()
    if (this.target.closed) return
    if (this.target.write(bytes) || this.waiting) return
    this.waiting = true
    this.flow?.pause()
    this.target.onDrain(() => {
      this.waiting = false
      this.flow?.resume()
    })
  }

  private end(last: string): void {
    this.encoder.text(last)
    const bytes = this.encoder.take(true)
    if (!this.target.closed) this.target.end(bytes)
  }
}
