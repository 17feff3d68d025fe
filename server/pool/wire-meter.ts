/**
 * Stands between a connection's socket and pg's parser. pg's parser holds each backend
 * message whole before handing it over, so a single row of 200 MB costs that much (twice,
 * while its buffer doubles) and a value over ~512 MiB throws ERR_STRING_TOO_LONG out of the
 * socket's data handler, taking the process down. The meter reads each message's type and
 * declared length as the bytes arrive, counts the statement's rows and bytes, and stops at a
 * message the limits do not allow before any of its body is buffered: the connection then
 * cancels the statement and closes the socket, and pg reads nothing more.
 *
 * For a streaming statement it also takes the rows out of what pg parses and hands each one
 * over as PostgreSQL's bytes (a {@link RawRows}), so that they can be encoded without a
 * JavaScript string per value; every other message still goes to pg, in order.
 */

/** Type byte of a DataRow message. */
const DATA_ROW = 0x44
/** Type byte of ReadyForQuery: a statement's answer ends with it. */
const READY_FOR_QUERY = 0x5a

/**
 * The most any one message may declare, whatever a tenant's limits say: a row of this size
 * still becomes JSON within V8's longest string (every byte may turn into a 6-character
 * escape).
 */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024

/** The most a message other than a row may declare (errors, notices, column lists). */
export const MAX_OTHER_MESSAGE_BYTES = 1024 * 1024

/** What one statement may receive. Undefined means no limit of that kind. */
export interface MeterLimits {
  /** Rows. */
  maxRows?: number | undefined
  /** Bytes of all rows, each counted as its declared message length. */
  maxBytes?: number | undefined
  /** Bytes of any one row. */
  maxRowBytes?: number | undefined
}

/** Which limit a message would pass. */
export type OverLimit = 'rows' | 'bytes' | 'row' | 'message'

/** Told when a message passes a limit, before the connection is discarded. */
export type OverLimitHandler = (kind: OverLimit, declaredBytes: number) => void

/** Takes a streaming statement's rows as PostgreSQL sent them. */
export interface RawRows {
  /** One DataRow's body, `bytes[start, end)`: a 16-bit column count, then each value. */
  rawRow(bytes: Buffer, start: number, end: number): void
}

/** Watches one connection's incoming bytes and passes them on to pg's parser. */
export class WireMeter {
  /** Rows of the current statement so far. */
  rows = 0
  /** Bytes of the current statement's rows so far (declared message lengths). */
  bytes = 0
  private limits: MeterLimits = {}
  private onOver: OverLimitHandler | undefined
  private raw: RawRows | undefined
  private stopped = false
  /** Body bytes of the current message still to come. */
  private skip = 0
  /** A row being gathered across chunks for `raw`. */
  private row: Buffer | undefined
  private rowFill = 0
  /** The start of a header split across chunks, not yet passed on. */
  private carry: Buffer | undefined

  /**
   * `forward` hands bytes to pg's parser; `discard` stops the connection (cancel, close) once
   * a message passes a limit.
   */
  constructor(
    private readonly forward: (bytes: Buffer) => void,
    private readonly discard: () => void,
  ) {}

  /**
   * Starts a statement: counts its rows under `limits`, tells `onOver` of the first breach,
   * and hands its rows to `raw` instead of pg when given.
   */
  begin(limits: MeterLimits, onOver: OverLimitHandler | undefined, raw?: RawRows): void {
    this.rows = 0
    this.bytes = 0
    this.limits = limits
    this.onOver = onOver
    this.raw = raw
  }

  /** Reads one chunk from the socket. */
  read(input: Buffer): void {
    if (this.stopped) return
    const chunk = this.carry ? Buffer.concat([this.carry, input]) : input
    this.carry = undefined
    const end = chunk.length
    let offset = 0
    // The first byte not yet passed on (to pg, or to `raw`).
    let from = 0
    while (offset < end) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, end - offset)
        this.skip -= n
        if (this.row !== undefined) {
          chunk.copy(this.row, this.rowFill, offset, offset + n)
          this.rowFill += n
          offset += n
          from = offset
          if (this.skip === 0) {
            const row = this.row
            this.row = undefined
            this.raw?.rawRow(row, 0, row.length)
          }
        } else offset += n
        continue
      }
      if (end - offset < 5) {
        // Held back until the rest of the header says what the message is.
        if (from < offset) this.forward(chunk.subarray(from, offset))
        this.carry = Buffer.from(chunk.subarray(offset))
        return
      }
      const type = chunk[offset]!
      const length = chunk.readUInt32BE(offset + 1)
      if (!this.allowed(type, length)) return
      // The statement's answer ends here: what follows (a pipelined session reset) is not
      // its rows, and is neither counted against its limits nor taken as raw rows.
      if (type === READY_FOR_QUERY) {
        this.limits = {}
        this.raw = undefined
      }
      // The declared length counts its own 4 bytes.
      const body = Math.max(0, length - 4)
      if (type !== DATA_ROW || this.raw === undefined) {
        offset += 5
        this.skip = body
        continue
      }
      if (from < offset) this.forward(chunk.subarray(from, offset))
      const start = offset + 5
      if (start + body <= end) {
        offset = start + body
        from = offset
        this.raw.rawRow(chunk, start, offset)
      } else {
        this.row = Buffer.allocUnsafe(body)
        this.rowFill = 0
        this.skip = body
        offset = start
        from = offset
      }
    }
    if (from < end) this.forward(from === 0 ? chunk : chunk.subarray(from))
  }

  private allowed(type: number, length: number): boolean {
    if (type !== DATA_ROW) {
      if (length > MAX_OTHER_MESSAGE_BYTES) return this.over('message', length)
      return true
    }
    const { maxRows, maxBytes, maxRowBytes } = this.limits
    this.rows++
    this.bytes += length
    if (length > MAX_MESSAGE_BYTES || (maxRowBytes !== undefined && length > maxRowBytes))
      return this.over('row', length)
    if (maxRows !== undefined && this.rows > maxRows) return this.over('rows', length)
    if (maxBytes !== undefined && this.bytes > maxBytes) return this.over('bytes', length)
    return true
  }

  private over(kind: OverLimit, length: number): false {
    this.stopped = true
    this.onOver?.(kind, length)
    this.discard()
    return false
  }
}
