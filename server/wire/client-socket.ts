/**
 * A wire session's client side: the messages it sends, cut and queued in arrival order
 * until the session handles them; the bytes for it, collected and written once per turn
 * (a write per message costs a system call each); and backpressure both ways: a client
 * that reads slowly pauses the backend, and is not read itself until it catches up (as
 * PostgreSQL, blocked writing, reads nothing); a backend that cannot take more (or a queue
 * over 1 MiB) pauses the client.
 */
import type { Duplex } from 'node:stream'
import type { MessageReader, WireMessage } from './reader.js'

/** Client bytes queued before the session stops reading its socket. */
const QUEUE_HIGH_BYTES = 1024 * 1024

/** What the client socket tells its session. */
export interface ClientEvents {
  /** Messages were queued (also called once at start, for bytes read during the handshake). */
  messages(): void
  /** The client went away (closed, ended or failed). */
  gone(): void
  /** The client reads slowly (`true`) or caught up again. */
  full(full: boolean): void
  /** The bytes are not the protocol (malformed or oversized). */
  violation(error: unknown): void
}

/** The client's socket, as a session uses it. */
export class ClientSocket {
  /** Writes to the client wait for it to read. */
  isFull = false
  private readonly stream: Duplex
  private readonly reader: MessageReader
  private readonly events: ClientEvents
  private readonly queue: WireMessage[] = []
  private head = 0
  private queuedBytes = 0
  private out: Buffer[] = []
  private backendBlocked = false
  private closed = false

  constructor(stream: Duplex, reader: MessageReader, events: ClientEvents) {
    this.stream = stream
    this.reader = reader
    this.events = events
    stream.on('data', this.onData)
    stream.on('drain', this.onDrain)
    // A WebSocket's stream ends without closing (its write side stays open): 'end' too.
    stream.on('end', this.onGone)
    stream.on('close', this.onGone)
    stream.on('error', this.onGone)
  }

  /** Starts handling: what the handshake read past the password comes out first. */
  start(): void {
    this.onData(undefined)
  }

  /** The oldest message not yet consumed. */
  peek(): WireMessage | undefined {
    return this.head < this.queue.length ? this.queue[this.head] : undefined
  }

  /** Drops the oldest message: it was handled. */
  consume(): void {
    const m = this.queue[this.head++]
    if (m) this.queuedBytes -= m.end - m.start
    if (this.head === this.queue.length) {
      this.queue.length = 0
      this.head = 0
    }
  }

  /** Bytes for the client, written at the next {@link flush}. */
  send(data: Buffer): void {
    this.out.push(data)
  }

  flush(): void {
    if (this.out.length === 0 || this.closed) return
    const data = this.out.length === 1 ? this.out[0]! : Buffer.concat(this.out)
    this.out = []
    if (!this.stream.write(data) && !this.isFull) {
      this.isFull = true
      this.events.full(true)
      this.updateReading()
    }
  }

  /** PostgreSQL cannot take more for now: stop reading the client until it can. */
  blockOnBackend(blocked: boolean): void {
    this.backendBlocked = blocked
    this.updateReading()
  }

  /**
   * Reads on, or pauses, as the queue, the backend and the client allow: a client that does
   * not read what it is sent is not read either (some answers need no backend to pause).
   */
  updateReading(): void {
    if (this.closed) return
    const full = this.backendBlocked || this.isFull || this.queuedBytes > QUEUE_HIGH_BYTES
    if (full && !this.stream.isPaused()) this.stream.pause()
    else if (!full && this.stream.isPaused()) this.stream.resume()
  }

  /** Writes what is left and closes; a client that never reads it cannot keep the socket. */
  close(): void {
    if (this.closed) return
    this.flush()
    this.closed = true
    this.stream.off('data', this.onData)
    const stream = this.stream
    stream.end()
    // The timer holds the stream alone, and only until it closes: holding `this` would keep
    // the ended session (its statements, up to 16 MiB) alive for the 5 s.
    const timer = setTimeout(() => stream.destroy(), 5_000).unref()
    stream.once('close', () => clearTimeout(timer))
  }

  private readonly onData = (chunk: Buffer | undefined) => {
    if (this.closed) return
    if (chunk) this.reader.push(chunk)
    try {
      let next: WireMessage | undefined
      while ((next = this.reader.next())) {
        this.queue.push(next)
        this.queuedBytes += next.end - next.start
      }
    } catch (error) {
      return this.events.violation(error)
    }
    this.events.messages()
  }

  private readonly onDrain = () => {
    if (!this.isFull) return
    this.isFull = false
    this.events.full(false)
    this.updateReading()
  }

  private readonly onGone = () => {
    if (!this.closed) this.events.gone()
  }
}
