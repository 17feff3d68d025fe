/**
 * A WebSocket client in a few lines, for tests that must send what no WebSocket library
 * sends: a frame's header without its payload, or a payload cut short. Frames from the
 * gateway are read back as they come: binary messages, and the close frame's code.
 */
import { connect, type Socket } from 'node:net'

/** A raw WebSocket connection to the gateway's `/v2` endpoint. */
export class RawWebSocket {
  readonly socket: Socket
  /** Binary messages received, in order. */
  readonly messages: Buffer[] = []
  /** Resolves when the socket closes, with the code of the close frame if one came. */
  readonly closed: Promise<number | undefined>
  private closeCode: number | undefined
  private received = Buffer.alloc(0)
  private upgraded = false
  private onUpgrade: ((status: string) => void) | undefined

  private constructor(socket: Socket) {
    this.socket = socket
    socket.on('error', () => {})
    socket.on('data', (chunk: Buffer) => this.read(chunk))
    this.closed = new Promise((resolve) => socket.on('close', () => resolve(this.closeCode)))
  }

  /** Connects to `host` (`127.0.0.1:port`) and upgrades; rejects unless it answers 101. */
  static async open(host: string, path = '/v2'): Promise<RawWebSocket> {
    const [name, port] = host.split(':')
    const ws = new RawWebSocket(connect(Number(port), name))
    const status = new Promise<string>((resolve) => (ws.onUpgrade = resolve))
    ws.socket.write(
      `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    )
    const answer = await Promise.race([status, ws.closed.then(() => 'closed')])
    if (!answer.startsWith('HTTP/1.1 101')) throw new Error(`upgrade refused: ${answer}`)
    return ws
  }

  /**
   * The header of a binary frame (masked, as a client's must be) announcing `length` bytes
   * of payload; the payload is whatever {@link send} writes next.
   */
  static header(length: number): Buffer {
    const header = Buffer.alloc(14)
    header[0] = 0x82
    header[1] = 0x80 | 127
    header.writeBigUInt64BE(BigInt(length), 2)
    // A zero masking key leaves the payload as it is.
    return header
  }

  /** One whole binary message. */
  static frame(payload: Buffer): Buffer {
    return Buffer.concat([RawWebSocket.header(payload.length), payload])
  }

  send(...data: Buffer[]): void {
    this.socket.write(Buffer.concat(data))
  }

  private read(chunk: Buffer): void {
    this.received = Buffer.concat([this.received, chunk])
    if (!this.upgraded) {
      const end = this.received.indexOf('\r\n\r\n')
      if (end < 0) return
      this.upgraded = true
      this.onUpgrade?.(this.received.toString('latin1', 0, end))
      this.received = this.received.subarray(end + 4)
    }
    for (;;) {
      const frame = this.received
      if (frame.length < 2) return
      let length = frame[1]! & 0x7f
      let at = 2
      if (length === 126) {
        if (frame.length < 4) return
        length = frame.readUInt16BE(2)
        at = 4
      } else if (length === 127) {
        if (frame.length < 10) return
        length = Number(frame.readBigUInt64BE(2))
        at = 10
      }
      if (frame.length < at + length) return
      const payload = frame.subarray(at, at + length)
      const opcode = frame[0]! & 0x0f
      if (opcode === 0x2) this.messages.push(Buffer.from(payload))
      if (opcode === 0x8) {
        this.closeCode = length >= 2 ? payload.readUInt16BE(0) : undefined
        // What a client does when the server closes: closes too.
        this.socket.end()
      }
      this.received = frame.subarray(at + length)
    }
  }
}
