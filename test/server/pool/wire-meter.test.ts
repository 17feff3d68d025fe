import { describe, expect, it } from 'vitest'
import { WireMeter, type OverLimit } from '../../../server/pool/wire-meter.js'

// Backend messages as PostgreSQL frames them: a type byte, then a length that counts itself.
function message(type: string, body: Buffer): Buffer {
  const header = Buffer.alloc(5)
  header.write(type, 0, 'latin1')
  header.writeUInt32BE(body.length + 4, 1)
  return Buffer.concat([header, body])
}

function dataRow(values: (string | null)[]): Buffer {
  const parts = [Buffer.from([values.length >> 8, values.length & 255])]
  for (const value of values) {
    const length = Buffer.alloc(4)
    length.writeInt32BE(value === null ? -1 : Buffer.byteLength(value))
    parts.push(length)
    if (value !== null) parts.push(Buffer.from(value))
  }
  return message('D', Buffer.concat(parts))
}

const description = message('T', Buffer.from('column list'))
const complete = message('C', Buffer.from('SELECT 3\0'))
const ready = message('Z', Buffer.from('I'))
const rows = [dataRow(['1', 'a']), dataRow([null, 'x'.repeat(300)]), dataRow(['3', ''])]
const wire = Buffer.concat([description, ...rows, complete, ready])

/** Feeds `bytes` to a meter in chunks of `size`, as a socket might split them. */
function feed(size: number, raw: boolean, limits = {}) {
  const forwarded: Buffer[] = []
  const taken: Buffer[] = []
  const over: OverLimit[] = []
  let discarded = false
  const meter = new WireMeter(
    (bytes) => forwarded.push(Buffer.from(bytes)),
    () => (discarded = true),
  )
  meter.begin(
    limits,
    (kind) => over.push(kind),
    raw
      ? { rawRow: (bytes, start, end) => taken.push(Buffer.from(bytes.subarray(start, end))) }
      : undefined,
  )
  for (let i = 0; i < wire.length; i += size) meter.read(wire.subarray(i, i + size))
  return { forwarded: Buffer.concat(forwarded), taken, over, discarded, meter }
}

describe('the wire meter', () => {
  it('passes every byte on to pg, whatever the chunk boundaries, and counts the rows', () => {
    for (const size of [1, 2, 3, 4, 5, 6, 7, 64, wire.length]) {
      const { forwarded, meter, over } = feed(size, false)
      expect(forwarded.equals(wire), `chunks of ${size}`).toBe(true)
      expect(meter.rows).toBe(3)
      expect(meter.bytes).toBe(rows.reduce((sum, row) => sum + row.length - 1, 0))
      expect(over).toEqual([])
    }
  })

  it('hands a stream its rows as bytes and pg everything else, in order', () => {
    for (const size of [1, 2, 3, 4, 5, 6, 7, 64, wire.length]) {
      const { forwarded, taken } = feed(size, true)
      expect(forwarded.equals(Buffer.concat([description, complete, ready])), `${size}`).toBe(true)
      expect(taken).toHaveLength(3)
      expect(Buffer.concat(taken).equals(Buffer.concat(rows.map((row) => row.subarray(5))))).toBe(
        true,
      )
    }
  })

  it('stops at the header of the first row past a limit, before reading its body', () => {
    const { over, discarded, forwarded } = feed(7, false, { maxRows: 1 })
    expect(over).toEqual(['rows'])
    expect(discarded).toBe(true)
    // Nothing after the refused row's header reaches pg.
    expect(forwarded.length).toBeLessThanOrEqual(description.length + rows[0]!.length + 5)
    expect(feed(7, false, { maxRowBytes: 100 }).over).toEqual(['row'])
    expect(feed(7, false, { maxBytes: 20 }).over).toEqual(['bytes'])
  })

  it('refuses any other message over 1 MiB from its declared length alone', () => {
    const meter = new WireMeter(
      () => {},
      () => {},
    )
    const over: OverLimit[] = []
    meter.begin({}, (kind) => over.push(kind))
    const header = Buffer.alloc(5)
    header.write('E', 0, 'latin1')
    header.writeUInt32BE(600 * 1024 * 1024, 1)
    meter.read(header)
    expect(over).toEqual(['message'])
  })
})
