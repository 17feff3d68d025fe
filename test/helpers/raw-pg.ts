/**
 * A PostgreSQL protocol client in a few lines, for tests that must send what no driver
 * sends: malformed messages, hand-made pipelines, a connection dropped at a chosen moment.
 */
import { connect, type Socket } from 'node:net'
import { cstring, message } from '../../server/wire/messages.js'
import { MessageReader, bodyOf } from '../../server/wire/reader.js'

/** One message from the gateway. */
export interface RawMessage {
  type: string
  body: Buffer
}

/** The fields of an ErrorResponse body, by code letter. */
export function fieldsOf(body: Buffer): Record<string, string> {
  const fields: Record<string, string> = {}
  let i = 0
  while (i < body.length && body[i] !== 0) {
    const end = body.indexOf(0, i + 1)
    if (end < 0) break
    fields[String.fromCharCode(body[i]!)] = body.toString('utf8', i + 1, end)
    i = end + 1
  }
  return fields
}

function int16(n: number): Buffer {
  const b = Buffer.alloc(2)
  b.writeInt16BE(n)
  return b
}

/** Frontend messages. */
export const frontend = {
  startup(parameters: Record<string, string>): Buffer {
    const body = Buffer.concat([
      Buffer.from([0, 3, 0, 0]),
      ...Object.entries(parameters).flatMap(([k, v]) => [cstring(k), cstring(v)]),
      Buffer.from([0]),
    ])
    const length = Buffer.alloc(4)
    length.writeInt32BE(body.length + 4)
    return Buffer.concat([length, body])
  },
  password: (token: string) => message('p', cstring(token)),
  query: (sql: string) => message('Q', cstring(sql)),
  parse: (name: string, sql: string) =>
    message('P', Buffer.concat([cstring(name), cstring(sql), int16(0)])),
  /** A Bind with text parameters and no result formats. */
  bind: (portal: string, statement: string, params: string[] = []) =>
    message(
      'B',
      Buffer.concat([
        cstring(portal),
        cstring(statement),
        int16(0),
        int16(params.length),
        ...params.map((p) => {
          const value = Buffer.from(p)
          const length = Buffer.alloc(4)
          length.writeInt32BE(value.length)
          return Buffer.concat([length, value])
        }),
        int16(0),
      ]),
    ),
  execute: (portal = '') => message('E', Buffer.concat([cstring(portal), Buffer.alloc(4)])),
  sync: () => message('S'),
  terminate: () => message('X'),
  /** An untyped packet of a length and a code: SSLRequest, GSSENCRequest, CancelRequest. */
  request(code: number, ...ints: number[]): Buffer {
    const packet = Buffer.alloc(8 + 4 * ints.length)
    packet.writeInt32BE(packet.length)
    packet.writeInt32BE(code, 4)
    ints.forEach((n, i) => packet.writeInt32BE(n, 8 + 4 * i))
    return packet
  },
  sslRequest: () => frontend.request(80877103),
  cancel: (processId: number, secretKey: number) =>
    frontend.request(80877102, processId, secretKey),
}

/** A raw connection to the gateway's TCP listener. */
export class RawClient {
  readonly socket: Socket
  readonly closed: Promise<void>
  private readonly reader = new MessageReader(2 ** 30)
  private readonly queue: RawMessage[] = []
  private wake: (() => void) | undefined
  private ended = false
  /** The one-byte answer to an SSLRequest, while {@link sslRequest} waits for it. */
  private sslAnswer: ((answer: string) => void) | undefined

  private constructor(port: number) {
    this.socket = connect(port, '127.0.0.1')
    this.socket.on('error', () => {})
    this.socket.on('data', (chunk: Buffer) => {
      const answer = this.sslAnswer
      if (answer) {
        this.sslAnswer = undefined
        answer(chunk.toString('latin1', 0, 1))
        chunk = chunk.subarray(1)
      }
      this.reader.push(chunk)
      let next
      while ((next = this.reader.next()))
        this.queue.push({ type: String.fromCharCode(next.type), body: Buffer.from(bodyOf(next)) })
      this.wake?.()
    })
    this.closed = new Promise((resolve) =>
      this.socket.on('close', () => {
        this.ended = true
        this.wake?.()
        resolve()
      }),
    )
  }

  /** Opens a socket without sending anything. */
  static async open(port: number): Promise<RawClient> {
    const client = new RawClient(port)
    await new Promise((resolve) => client.socket.once('connect', resolve))
    return client
  }

  /** Connects and authenticates with a cleartext password (the loopback default). */
  static async connect(port: number, token: string): Promise<RawClient> {
    const client = await RawClient.open(port)
    client.send(frontend.startup({ user: 'main', database: 'main' }))
    const auth = await client.next()
    if (auth.type !== 'R' || auth.body.readInt32BE(0) !== 3)
      throw new Error(`expected a cleartext password request, got ${auth.type}`)
    client.send(frontend.password(token))
    await client.until('Z')
    return client
  }

  send(...data: Buffer[]): void {
    this.socket.write(Buffer.concat(data))
  }

  /** Sends an SSLRequest; resolves with the gateway's one-byte answer ('N' or 'S'). */
  sslRequest(): Promise<string> {
    const answer = new Promise<string>((resolve) => (this.sslAnswer = resolve))
    this.send(frontend.sslRequest())
    return Promise.race([answer, this.closed.then(() => 'closed')])
  }

  /** The next message; rejects once the socket closed with nothing left. */
  async next(): Promise<RawMessage> {
    for (;;) {
      const message = this.queue.shift()
      if (message) return message
      if (this.ended) throw new Error('connection closed')
      await new Promise<void>((resolve) => (this.wake = resolve))
    }
  }

  /** Messages up to and including the first of `type`. */
  async until(type: string): Promise<RawMessage[]> {
    const messages: RawMessage[] = []
    for (;;) {
      const message = await this.next()
      messages.push(message)
      if (message.type === type) return messages
    }
  }

  /** The types of messages up to ReadyForQuery, and the errors' SQLSTATEs. */
  async cycle(): Promise<{ types: string; errors: string[]; status: string }> {
    const messages = await this.until('Z')
    return {
      types: messages.map((m) => m.type).join(''),
      errors: messages.filter((m) => m.type === 'E').map((m) => fieldsOf(m.body).C!),
      status: messages.at(-1)!.body.toString('latin1'),
    }
  }
}
