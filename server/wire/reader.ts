/**
 * Cuts a byte stream into PostgreSQL messages: a type byte, a 4-byte length (itself
 * included), the body. Messages come out as views into the chunks received, so the relay
 * can forward a run of them as one slice without copying; a message split across chunks
 * is joined once. The first packet of a connection has no type byte ({@link nextUntyped}).
 */
import { MalformedMessage } from './messages.js'

/** One message, as a view into `buffer`. */
export interface WireMessage {
  /** The type byte as a char code ('Q' = 81). */
  type: number
  /** The buffer the message lies in, and where: `buffer.subarray(start, end)` is all of it. */
  buffer: Buffer
  start: number
  end: number
}

/** A length over the reader's limit. */
export class OversizedMessage extends Error {
  constructor(
    readonly length: number,
    readonly limit: number,
  ) {
    super(`a message of ${length} bytes is over the limit of ${limit} bytes`)
    this.name = 'OversizedMessage'
  }
}

/** Accumulates chunks and yields whole messages. */
export class MessageReader {
  private buffer: Buffer = Buffer.alloc(0)
  private offset = 0

  /** @param maxLength the largest message accepted, its header included */
  constructor(public maxLength: number) {}

  /** Bytes received and not yet returned as messages. */
  get pending(): number {
    return this.buffer.length - this.offset
  }

  /** Adds a chunk from the socket. */
  push(chunk: Buffer): void {
    if (this.offset >= this.buffer.length) {
      this.buffer = chunk
    } else {
      this.buffer = Buffer.concat([this.buffer.subarray(this.offset), chunk])
    }
    this.offset = 0
  }

  /** The next whole typed message, or `undefined` until more bytes arrive. */
  next(): WireMessage | undefined {
    const { buffer, offset } = this
    if (buffer.length - offset < 5) return undefined
    const length = buffer.readInt32BE(offset + 1)
    // The length counts itself: less than 4 (a negative one too) is no message at all.
    if (length < 4) throw new MalformedMessage(`invalid message length ${length}`)
    if (length + 1 > this.maxLength) throw new OversizedMessage(length, this.maxLength)
    const end = offset + 1 + length
    if (end > buffer.length) return undefined
    this.offset = end
    return { type: buffer[offset]!, buffer, start: offset, end }
  }

  /** The next untyped packet (startup, SSLRequest, CancelRequest), as its body. */
  nextUntyped(): Buffer | undefined {
    const { buffer, offset } = this
    if (buffer.length - offset < 4) return undefined
    const length = buffer.readInt32BE(offset)
    if (length < 8) throw new MalformedMessage(`invalid startup packet length ${length}`)
    if (length > this.maxLength) throw new OversizedMessage(length, this.maxLength)
    if (offset + length > buffer.length) return undefined
    this.offset = offset + length
    return buffer.subarray(offset + 4, offset + length)
  }
}

/** The body of `message` (after its type and length). */
export function bodyOf(message: WireMessage): Buffer {
  return message.buffer.subarray(message.start + 5, message.end)
}

/** All of `message`, header included. */
export function rawOf(message: WireMessage): Buffer {
  return message.buffer.subarray(message.start, message.end)
}
