/**
 * Counts a connection's results on the wire, before pg reads them. pg's parser holds each
 * backend message whole before handing it over, so a single row of 200 MB costs that much
 * (twice, while its buffer doubles) and a value over ~512 MiB throws ERR_STRING_TOO_LONG out
 * of the socket's data handler, taking the process down. The meter reads only each message's
 * type and declared length as the bytes arrive, counts the statement's rows and bytes, and
 * reports a message the limits do not allow before any of its body is buffered: the
 * connection then cancels the statement and closes the socket, so nothing more is read.
 */

/** Type byte of a DataRow message. */
const DATA_ROW = 0x44

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

/** Watches one connection's incoming bytes. */
export class WireMeter {
  /** Rows of the current statement so far. */
  rows = 0
  /** Bytes of the current statement's rows so far (declared message lengths). */
  bytes = 0
  private limits: MeterLimits = {}
  private onOver: OverLimitHandler | undefined
  private stopped = false
  /** Body bytes of the current message still to come. */
  private skip = 0
  /** A header split across chunks: its bytes so far. */
  private readonly header = new Uint8Array(5)
  private headerFill = 0

  /** `discard` stops the connection (cancel, close) once any message passes a limit. */
  constructor(private readonly discard: () => void) {}

  /** Counts what arrives on `stream` (the stream pg's parser reads; attach before pg does). */
  watch(stream: { on(event: 'data', listener: (chunk: Buffer) => void): unknown }): void {
    stream.on('data', (chunk) => this.read(chunk))
  }

  /** Starts counting a statement's rows under `limits`; `onOver` hears of the first breach. */
  begin(limits: MeterLimits, onOver: OverLimitHandler | undefined): void {
    this.rows = 0
    this.bytes = 0
    this.limits = limits
    this.onOver = onOver
  }

  /** Reads one chunk's message headers, stepping over their bodies. */
  read(chunk: Uint8Array): void {
    const end = chunk.length
    let offset = 0
    while (offset < end && !this.stopped) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, end - offset)
        this.skip -= n
        offset += n
        continue
      }
      let type: number
      let length: number
      if (this.headerFill === 0 && end - offset >= 5) {
        type = chunk[offset]!
        length =
          ((chunk[offset + 1]! << 24) |
            (chunk[offset + 2]! << 16) |
            (chunk[offset + 3]! << 8) |
            chunk[offset + 4]!) >>>
          0
        offset += 5
      } else {
        while (this.headerFill < 5 && offset < end)
          this.header[this.headerFill++] = chunk[offset++]!
        if (this.headerFill < 5) return
        this.headerFill = 0
        const h = this.header
        type = h[0]!
        length = ((h[1]! << 24) | (h[2]! << 16) | (h[3]! << 8) | h[4]!) >>> 0
      }
      this.check(type, length)
      // The declared length counts its own 4 bytes.
      this.skip = Math.max(0, length - 4)
    }
  }

  private check(type: number, length: number): void {
    if (type !== DATA_ROW) {
      if (length > MAX_OTHER_MESSAGE_BYTES) this.over('message', length)
      return
    }
    const { maxRows, maxBytes, maxRowBytes } = this.limits
    this.rows++
    this.bytes += length
    if (length > MAX_MESSAGE_BYTES || (maxRowBytes !== undefined && length > maxRowBytes))
      this.over('row', length)
    else if (maxRows !== undefined && this.rows > maxRows) this.over('rows', length)
    else if (maxBytes !== undefined && this.bytes > maxBytes) this.over('bytes', length)
  }

  private over(kind: OverLimit, length: number): void {
    this.stopped = true
    this.onOver?.(kind, length)
    this.discard()
  }
}
