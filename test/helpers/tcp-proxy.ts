/**
 * A TCP proxy in front of the test database, for failures PostgreSQL itself never causes: a
 * socket cut in the middle of a statement with no ErrorResponse first, or a backend gone
 * while the gateway's socket stays open and hears nothing (as when a NAT or a firewall drops
 * an idle session). It also keeps what each client sent, so a test can see a message on the
 * wire (a health check's empty query, say).
 */
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'
import { databaseUrl } from './gateway.js'

/** One proxied connection. */
export interface Link {
  /** Everything the client (the gateway) sent through this link. */
  readonly sent: () => Buffer
  /**
   * What the client sent, chunk by chunk as the proxy read it: bytes written apart with
   * PostgreSQL's answer in between arrive in different chunks.
   */
  readonly chunks: () => readonly Buffer[]
  /**
   * PostgreSQL answered everything the client sent: a ReadyForQuery came back for the
   * startup and for every Sync and simple Query (so no reset or statement is still on its
   * way, even one written in the same segment as the statement before it).
   */
  readonly quiet: () => boolean
  /** Cuts both sides at once: the client sees its socket close, with no word from PostgreSQL. */
  cut(): void
  /**
   * Ends the PostgreSQL side (its backend exits) and keeps the client's socket open without
   * a sound; the first byte the client sends afterwards resets it, as a NAT that forgot the
   * session does.
   */
  silence(): void
  /**
   * From now on PostgreSQL's answers stop here: both sockets stay open and the client hears
   * nothing more, as over a network that went silent without a reset.
   */
  mute(): void
  /**
   * From now on PostgreSQL's answers, and its closing the link, wait here until `release()`
   * delivers them: a test can have the client send something before it hears what
   * PostgreSQL said first (a FATAL for an idle session, say).
   */
  hold(): { release(): void }
  /**
   * Stops the link dead, both ways, closing included: nothing is read or passed on any more,
   * so a FIN the client sends is never answered, as across a network that dropped the route.
   */
  freeze(): void
}

/** A listening proxy. */
export interface TcpProxy {
  /** The test database's URL with the proxy's port. */
  readonly url: string
  /** Links in the order the client opened them. */
  readonly links: Link[]
  close(): Promise<void>
}

/** Options of {@link startTcpProxy}. */
export interface TcpProxyOptions {
  /** Drops every CancelRequest (its link closes unread), as a cancel lost on the way would be. */
  dropCancels?: boolean
}

// A CancelRequest: length 16, then the code 80877102.
const CANCEL_REQUEST = Buffer.from([0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e])

/** Starts a proxy to the test database on 127.0.0.1. */
export async function startTcpProxy(options: TcpProxyOptions = {}): Promise<TcpProxy> {
  const target = new URL(databaseUrl())
  const links: Link[] = []
  const sockets = new Set<Socket>()
  const server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname)
    const chunks: Buffer[] = []
    let silent = false
    let muted = false
    let held: Buffer[] | undefined
    let closeHeld = false
    // The client's first message, the StartupMessage, has no type byte.
    const fromClient = new MessageCounter(1)
    const fromServer = new MessageCounter(0)
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.on('error', () => {})
      socket.on('close', () => sockets.delete(socket))
    }
    client.on('data', (chunk: Buffer) => {
      if (options.dropCancels && chunks.length === 0 && chunk.subarray(0, 8).equals(CANCEL_REQUEST))
        silent = true
      chunks.push(chunk)
      fromClient.push(chunk)
      if (silent) {
        client.destroy()
        upstream.destroy()
      } else upstream.write(chunk)
    })
    upstream.on('data', (chunk: Buffer) => {
      fromServer.push(chunk)
      if (held) held.push(chunk)
      else if (!silent && !muted) client.write(chunk)
    })
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => {
      if (held) closeHeld = true
      else if (!silent) client.destroy()
    })
    links.push({
      sent: () => Buffer.concat(chunks),
      chunks: () => chunks,
      quiet: () =>
        fromServer.count('Z') >= 1 + fromClient.count('S') + fromClient.count('Q') &&
        !fromClient.partial &&
        !fromServer.partial,
      cut() {
        client.destroy()
        upstream.destroy()
      },
      silence() {
        silent = true
        upstream.destroy()
      },
      mute() {
        muted = true
      },
      freeze() {
        muted = true
        client.pause()
        upstream.pause()
        client.removeAllListeners('end')
      },
      hold() {
        held = []
        return {
          release() {
            const chunks = held ?? []
            held = undefined
            for (const chunk of chunks) client.write(chunk)
            if (closeHeld) client.end()
          },
        }
      },
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = new URL(target)
  url.host = `127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url: url.toString(),
    links,
    async close() {
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

// ReadyForQuery's type and length; its last byte is the transaction status.

/** A simple-protocol Query message with empty text: what the pool's health check sends. */
export const EMPTY_QUERY = Buffer.from([0x51, 0, 0, 0, 5, 0])

/** How many times `needle` occurs in `haystack`. */
export function occurrences(haystack: Buffer, needle: Buffer): number {
  let count = 0
  for (let i = haystack.indexOf(needle); i >= 0; i = haystack.indexOf(needle, i + 1)) count++
  return count
}

/** Counts one direction's protocol messages by type, as whole messages arrive. */
class MessageCounter {
  private buffer = Buffer.alloc(0)
  private readonly counts = new Map<string, number>()

  constructor(private untyped: number) {}

  /** Part of a message is still on its way. */
  get partial(): boolean {
    return this.buffer.length > 0
  }

  count(type: string): number {
    return this.counts.get(type) ?? 0
  }

  push(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk])
    for (;;) {
      const typed = this.untyped === 0 ? 1 : 0
      if (this.buffer.length < typed + 4) return
      const size = typed + this.buffer.readInt32BE(typed)
      if (this.buffer.length < size) return
      if (typed) {
        const type = String.fromCharCode(this.buffer[0]!)
        this.counts.set(type, this.count(type) + 1)
      } else this.untyped--
      this.buffer = this.buffer.subarray(size)
    }
  }
}
