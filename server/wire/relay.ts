/**
 * The backend side of a wire session: one pooled connection's socket, lent by the pool
 * (`Connection.detach`), with PostgreSQL's messages passed to the client as they come.
 * Every message the relay sends to PostgreSQL that gets an answer is queued as a
 * {@link Pending}, so each answer is matched to its request in order: the client's own
 * messages (their answers go through), the gateway's (answers swallowed: a statement
 * prepared again on this backend, a session-state probe, the BEGIN READ ONLY of a readonly
 * token), and answers the relay makes up itself (a ParseComplete for a statement already
 * prepared here), which are sent once the queue reaches them. After an error PostgreSQL
 * skips every message up to the next Sync; so does the queue.
 */
import type { Duplex } from 'node:stream'
import type { Connection, RawReader } from '../pool/connection.js'
import { HiddenAnswer, type HiddenResult } from './hidden-answer.js'
import { BACKEND as T } from './message-types.js'
import { queryMessage, readFields } from './messages.js'
import { UNTIL, type Pending } from './pending.js'
import { MUTED, type RelaySink } from './relay-sink.js'
import { MessageReader, bodyOf, type WireMessage } from './reader.js'

/** The watchdog's timer callback: one function for every relay, no closure per relay. */
function watchdogFired(relay: Relay): void {
  relay.stuck()
}

/** The relay of one borrowed connection. */
export class Relay implements RawReader {
  readonly connection: Connection
  /** The transaction status of the last ReadyForQuery. */
  status = 'I'
  /** An error made PostgreSQL skip messages, and no Sync was sent since. */
  skipping = false
  private readonly socket: Duplex
  private readonly reader = new MessageReader(2 ** 31)
  private queue: Pending[] = []
  private head = 0
  private copyIn = false
  private closed = false
  // A run of consecutive forwarded messages in one buffer, written as one slice.
  private run: Buffer | undefined
  private runStart = 0
  private runEnd = 0
  private watchdog: ReturnType<typeof setTimeout> | undefined
  /** Called instead of the sink's `stuck` once the session let go ({@link mute}). */
  private mutedStuck: (() => void) | undefined
  /** Bytes for PostgreSQL, written together by {@link flushOut}: one write per batch. */
  private out: Buffer[] = []

  constructor(
    connection: Connection,
    private sink: RelaySink,
    private watchdogMs: number,
  ) {
    this.connection = connection
    this.socket = connection.detach(this).stream
  }

  /** Requests still awaiting answers. */
  get busy(): boolean {
    return this.head < this.queue.length || this.copyIn
  }

  /** The oldest request still awaiting its answers, if any. */
  get oldest(): Pending | undefined {
    return this.queue[this.head]
  }

  /** Queues bytes for PostgreSQL and what answers them; {@link flushOut} writes them. */
  send(data: Buffer, pending?: Pending): void {
    if (this.closed) return
    if (pending) this.push(pending)
    // In COPY FROM STDIN PostgreSQL waits for the client: the watchdog times the client.
    else if (this.copyIn) this.armWatchdog()
    this.out.push(data)
  }

  /** Writes what {@link send} queued, in one write (a syscall per message costs a lot). */
  flushOut(): void {
    if (this.out.length === 0 || this.closed) return
    const data = this.out.length === 1 ? this.out[0]! : Buffer.concat(this.out)
    this.out = []
    if (!this.socket.write(data)) this.sink.backendFull(true)
  }

  /**
   * Queues an answer made up by the relay; sent at once when nothing is outstanding.
   * `skipped` is called should an earlier error make PostgreSQL skip what it answers.
   */
  answer(data: Buffer, skipped?: () => void): void {
    if (this.head >= this.queue.length) this.emit(data)
    else this.push({ until: [], synthetic: data, ...(skipped ? { onError: skipped } : {}) })
  }

  /** Runs gateway SQL whose answers the client never sees. */
  query(sql: string): Promise<HiddenResult> {
    return new Promise((resolve) => this.hidden(sql, resolve))
  }

  /** Queues gateway SQL whose answers the client never sees; its answer settles the result. */
  queryLater(sql: string): HiddenAnswer {
    const answer = new HiddenAnswer()
    this.hidden(sql, (result) => answer.settle(result))
    return answer
  }

  private hidden(sql: string, done: (result: HiddenResult) => void): void {
    const result: HiddenResult = { status: '', error: undefined, rows: [] }
    this.send(queryMessage(sql), {
      until: UNTIL.sync,
      sync: true,
      hidden: true,
      onRow: (body) => result.rows.push(Buffer.from(body)),
      onError: (fields) => (result.error ??= fields ?? new Map([['M', 'connection lost']])),
      onReady: (status) => {
        result.status = status
        done(result)
      },
    })
    this.flushOut()
  }

  /**
   * The session let go of this backend while a gateway query is still answering (the session
   * reset sent behind its last Sync): nothing more goes to the session, and the reading that
   * was paused for its client goes on. Should nothing come back within `timeoutMs`,
   * `onStuck` is called (once).
   */
  mute(onStuck: () => void, timeoutMs: number): void {
    this.sink = MUTED
    this.mutedStuck = onStuck
    this.watchdogMs = timeoutMs
    clearTimeout(this.watchdog)
    this.watchdog = undefined
    this.armWatchdog()
    this.socket.resume()
  }

  /** Stops reading PostgreSQL (the client reads slowly), or starts again. */
  pause(paused: boolean): void {
    if (paused) this.socket.pause()
    else this.socket.resume()
  }

  /**
   * Gives the socket back to pg. Only at a ReadyForQuery boundary (`busy` false); returns
   * false when the connection must be discarded instead.
   */
  detach(): boolean {
    if (this.closed) return false
    this.closed = true
    clearTimeout(this.watchdog)
    this.watchdog = undefined
    if (this.busy || this.reader.pending > 0) {
      this.abandon()
      return false
    }
    this.connection.attach(this.status)
    return true
  }

  private abandon(): void {
    // Answers still due would reach nobody, and pg's parser cannot resume mid-stream.
    const pending = this.queue.slice(this.head)
    this.queue = []
    this.head = 0
    for (const item of pending) {
      if (item.hidden) item.onError?.(undefined)
      if (item.hidden && item.sync) item.onReady?.('', Buffer.alloc(0))
    }
  }

  /** The socket closed (../pool/wire-tap.ts RawReader). */
  rawClose(): void {
    if (this.closed) return
    this.closed = true
    clearTimeout(this.watchdog)
    this.watchdog = undefined
    this.abandon()
    this.sink.lost()
  }

  /** PostgreSQL can take more again. */
  rawDrain(): void {
    if (!this.closed) this.sink.backendFull(false)
  }

  private push(pending: Pending): void {
    this.queue.push(pending)
    if (!pending.synthetic) this.armWatchdog()
  }

  private armWatchdog(): void {
    if (this.head >= this.queue.length) {
      clearTimeout(this.watchdog)
      this.watchdog = undefined
      return
    }
    // Armed again for every message sent and every chunk read: refreshing the one timer
    // costs far less than a new one each time.
    if (this.watchdog) this.watchdog.refresh()
    else this.watchdog = setTimeout(watchdogFired, this.watchdogMs, this)
  }

  /** Nothing came back for longer than the watchdog allows. */
  stuck(): void {
    this.watchdog = undefined
    if (this.mutedStuck) this.mutedStuck()
    else this.sink.stuck()
  }

  /** Bytes from PostgreSQL (../pool/wire-tap.ts RawReader). */
  rawData(chunk: Buffer): void {
    if (this.closed) return
    this.reader.push(chunk)
    let next: WireMessage | undefined
    while ((next = this.reader.next())) this.dispatch(next)
    this.flushRun()
    if (this.watchdog) this.armWatchdog()
    this.sink.flush()
  }

  private emit(data: Buffer): void {
    this.flushRun()
    this.sink.toClient(data)
  }

  private forward(m: WireMessage): void {
    if (this.run === m.buffer && this.runEnd === m.start) {
      this.runEnd = m.end
      return
    }
    this.flushRun()
    this.run = m.buffer
    this.runStart = m.start
    this.runEnd = m.end
  }

  private flushRun(): void {
    if (!this.run) return
    const slice = this.run.subarray(this.runStart, this.runEnd)
    this.run = undefined
    this.sink.toClient(slice)
  }

  private pop(): void {
    this.head++
    if (this.head === this.queue.length) {
      this.queue = []
      this.head = 0
    }
    // Answers made up by the relay go out once every earlier request is answered.
    while (this.head < this.queue.length && this.queue[this.head]!.synthetic) {
      this.emit(this.queue[this.head]!.synthetic!)
      this.head++
    }
    if (this.head === this.queue.length) {
      this.queue = []
      this.head = 0
    }
  }

  private dispatch(m: WireMessage): void {
    const type = m.type
    const item = this.head < this.queue.length ? this.queue[this.head] : undefined
    if (type === T.ready) {
      this.status = String.fromCharCode(m.buffer[m.start + 5]!)
      this.copyIn = false
      if (!item) return this.forward(m)
      this.pop()
      if (item.hidden) return item.onReady?.(this.status, Buffer.alloc(0))
      this.flushRun()
      return item.onReady?.(this.status, m.buffer.subarray(m.start, m.end))
    }
    if (type === T.error) return this.failed(m, item)
    if (type === T.notification) return this.forward(m)
    if (type === T.parameterStatus) {
      if (!item?.hidden) this.forward(m)
      return
    }
    if (type === T.notice) {
      if (item?.hidden) return
      const fields = readFields(bodyOf(m))
      if (this.sink.notice(fields)) this.forward(m)
      return
    }
    if (!item) return this.forward(m)
    if (item.hidden) {
      if (type === T.dataRow) item.onRow?.(bodyOf(m))
    } else {
      this.forward(m)
      if (type === T.commandComplete) {
        this.flushRun()
        this.sink.commandComplete(m.buffer.toString('utf8', m.start + 5, m.end - 1))
      }
    }
    // In COPY FROM STDIN the watchdog goes on, timing the client's silence: PostgreSQL,
    // waiting for its data, acts on neither statement_timeout nor a cancel.
    if (type === T.copyIn) this.copyIn = true
    else if (type === T.copyOut) this.copyIn = false
    if (!item.sync && item.until.includes(type as never)) {
      if (type === T.commandComplete) this.copyIn = false
      this.pop()
    } else if (item.sync && type === T.commandComplete) this.copyIn = false
  }

  private failed(m: WireMessage, item: Pending | undefined): void {
    const fields = readFields(bodyOf(m))
    this.copyIn = false
    if (!item) return this.forward(m)
    if (item.replaceError) this.emit(item.replaceError)
    else if (!item.hidden || item.showError) {
      this.forward(m)
      this.flushRun()
      this.sink.clientError(fields)
    }
    item.onError?.(fields)
    // A Query's error is one of its answers: ReadyForQuery still ends it.
    if (item.sync) return
    this.head++
    // PostgreSQL now skips every message up to the next Sync, answering none of them.
    while (this.head < this.queue.length && !this.queue[this.head]!.sync) {
      this.queue[this.head]!.onError?.(undefined)
      this.head++
    }
    if (this.head >= this.queue.length) {
      this.queue = []
      this.head = 0
      this.skipping = true
    }
  }
}
