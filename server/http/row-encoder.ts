/**
 * Rows to text straight from PostgreSQL's bytes (a DataRow's body, handed over by the wire
 * meter, server/pool/wire-meter.ts), with no JavaScript string per value, in the two forms
 * the gateway answers with:
 *
 * - JSON ({@link RowEncoder.row}): a value made only of printable ASCII other than `"` and
 *   `\` is copied byte for byte between quotes; any other value is decoded and escaped by
 *   `JSON.stringify`. The text is thus exactly `JSON.stringify(values)` of the strings pg
 *   would have made.
 * - COPY text ({@link RowEncoder.copyTextRow}): values separated by tabs, `\N` for NULL,
 *   and in each value a backslash, tab, newline or carriage return escaped as COPY's text
 *   format escapes them; every other byte, UTF-8 included, is copied as it is.
 */

const QUOTE = 0x22
const BACKSLASH = 0x5c
const COMMA = 0x2c
const NULL = Buffer.from('null')
const TAB = 0x09
const NEWLINE = 0x0a
const CARRIAGE_RETURN = 0x0d
const LETTER_N = 0x4e
/** For each byte, the letter COPY text escapes it with after a backslash, or 0. */
const COPY_ESCAPES = new Uint8Array(256)
COPY_ESCAPES[BACKSLASH] = BACKSLASH
COPY_ESCAPES[TAB] = 0x74 // t
COPY_ESCAPES[NEWLINE] = 0x6e // n
COPY_ESCAPES[CARRIAGE_RETURN] = 0x72 // r
const EMPTY = Buffer.alloc(0)

/** Appends rows (and any text) to byte buffers, taken out a buffer at a time. */
export class RowEncoder {
  /**
   * For rows as objects: each column's `"name":`, in order. Unset: rows as arrays.
   */
  keys: Buffer[] | undefined
  private out: Buffer
  private pos = 0

  // Under 4 KiB, Buffer.allocUnsafe serves from Node's shared pool (no allocation of its own).
  constructor(initialBytes = 2048) {
    this.out = Buffer.allocUnsafe(initialBytes)
  }

  /** Bytes appended since the last {@link take}. */
  get length(): number {
    return this.pos
  }

  /** Appends `text` as UTF-8. */
  text(text: string): void {
    this.ensure(Buffer.byteLength(text))
    this.pos += this.out.write(text, this.pos)
  }

  /**
   * Appends the row whose DataRow body is `bytes[start, end)`, as an array (or an object,
   * with {@link keys}), with `before` and `after` (byte values, or -1 for none) around it.
   */
  row(bytes: Buffer, start: number, end: number, before: number, after: number): void {
    const keys = this.keys
    let p = start
    const count = bytes.readUInt16BE(p)
    p += 2
    let keyBytes = 0
    if (keys !== undefined) for (const key of keys) keyBytes += key.length
    // Worst case: every value byte becomes a 6-byte escape.
    this.ensure((end - start) * 6 + keyBytes + count * 5 + 8)
    const out = this.out
    let o = this.pos
    if (before >= 0) out[o++] = before
    out[o++] = keys === undefined ? 0x5b : 0x7b
    for (let c = 0; c < count; c++) {
      if (c > 0) out[o++] = COMMA
      if (keys !== undefined) o += keys[c]!.copy(out, o)
      const length = bytes.readInt32BE(p)
      p += 4
      if (length < 0) {
        o += NULL.copy(out, o)
        continue
      }
      const valueEnd = p + length
      out[o] = QUOTE
      let q = p
      let w = o + 1
      for (; q < valueEnd; q++) {
        const b = bytes[q]!
        if (b < 0x20 || b === QUOTE || b === BACKSLASH || b >= 0x80) break
        out[w++] = b
      }
      if (q === valueEnd) {
        out[w++] = QUOTE
        o = w
      } else {
        o += out.write(JSON.stringify(bytes.toString('utf8', p, valueEnd)), o)
      }
      p = valueEnd
    }
    out[o++] = keys === undefined ? 0x5d : 0x7d
    if (after >= 0) out[o++] = after
    this.pos = o
  }

  /**
   * Appends the row whose DataRow body is `bytes[start, end)` as one line of COPY text: its
   * values separated by tabs, then a newline.
   */
  copyTextRow(bytes: Buffer, start: number, end: number): void {
    let p = start
    const count = (bytes[p]! << 8) | bytes[p + 1]!
    p += 2
    // Worst case: every value byte escaped (two bytes), or `\N` and a separator per value.
    this.ensure((end - start) * 2 + count * 3 + 1)
    const out = this.out
    let o = this.pos
    for (let c = 0; c < count; c++) {
      if (c > 0) out[o++] = TAB
      const length =
        (bytes[p]! << 24) | (bytes[p + 1]! << 16) | (bytes[p + 2]! << 8) | bytes[p + 3]!
      p += 4
      if (length < 0) {
        out[o++] = BACKSLASH
        out[o++] = LETTER_N
        continue
      }
      const valueEnd = p + length
      for (; p < valueEnd; p++) {
        const b = bytes[p]!
        const escape = COPY_ESCAPES[b]!
        if (escape === 0) out[o++] = b
        else {
          out[o++] = BACKSLASH
          out[o++] = escape
        }
      }
    }
    out[o++] = NEWLINE
    this.pos = o
  }

  /** The bytes appended so far; appending goes on in a new buffer, unless this is the `last`. */
  take(last = false): Buffer {
    const taken = this.out.subarray(0, this.pos)
    // As large as the last one (a stream's chunks are alike), unless a huge row grew it.
    this.out = last ? EMPTY : Buffer.allocUnsafe(Math.min(this.out.length, 256 * 1024))
    this.pos = 0
    return taken
  }

  private ensure(bytes: number): void {
    if (this.pos + bytes <= this.out.length) return
    const grown = Buffer.allocUnsafe(Math.max(this.out.length * 2, this.pos + bytes))
    this.out.copy(grown, 0, 0, this.pos)
    this.out = grown
  }
}
