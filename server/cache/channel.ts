/**
 * How one tenant's cache in one gateway process hears about writes made elsewhere, and
 * makes its own writes heard: a dedicated connection (never a pooled one, which is reset
 * after every borrow) that LISTENs on the database's channel (./messages.ts). docs/cache.md
 * states the guarantee; the mechanism is:
 *
 * - **Lease** (./lease.ts). The member sends itself a tick every `TICK_MS`; when one comes
 *   back, every notification committed before it has been applied. The cache answers from
 *   memory only while the last tick that came back was *sent* less than `LEASE_MS` ago.
 * - **Acknowledged writes.** A write's invalidation is applied locally, then published with
 *   a sequence number (./outbox.ts). Every other member applies it and answers with an ack. The write's
 *   answer waits until its own message came back (so every member that joined before it is
 *   known) and every member heard from in the last 2 s acked it (./acks.ts), or until
 *   `LEASE_MS` × 1.25 after it was committed, when any member that did not
 *   apply it has lost its lease. Either way, a read that starts after the write's answer
 *   cannot be served the old value by any member.
 * - **Gaps.** When the connection fails (a database restart, a network cut) the cache stops
 *   answering from memory at once, reconnects with backoff, empties itself (notifications
 *   sent meanwhile are lost), and only then serves again, once every other listener the
 *   database counted has been heard from (or {@link MEMBER_TIMEOUT_MS} passed).
 * - **Signatures.** Every message of ours is signed with the deployment's key (./signature.ts)
 *   and only signed ones are acted on (./inbox.ts): anyone who can connect to the database
 *   can NOTIFY. While messages shaped like ours that do not check out come, the cache
 *   answers nothing from memory (./strangers.ts) and takes the writes they announce as drops.
 */
import { randomBytes } from 'node:crypto'
import type pg from 'pg'
import { Acknowledgements, MEMBER_TIMEOUT_MS } from './acks.js'
import { Inbox, type RejectedMessages } from './inbox.js'
import { Lease } from './lease.js'
import { otherListeners } from './listeners.js'
import { CHANNEL, type MemberMessage, type Message, type Outgoing } from './messages.js'
import { Outbox } from './outbox.js'
import type { ChannelSigner } from './signature.js'
import { Strangers } from './strangers.js'

/** What the channel needs from its cache and the gateway. */
export interface ChannelOptions {
  /** Opens the dedicated connection (not yet listening). */
  connect: () => Promise<pg.Client>
  /** Sends payloads through another connection (the pool) while this one is down. */
  notifyElsewhere: (payloads: string[]) => Promise<void>
  /** A message from another member or from the triggers. */
  apply: (message: Message) => void
  /** The connection was lost: everything cached may have missed a notification. */
  gap: () => void
  /** Something went wrong that is worth a log line. */
  warn: (message: string, error?: unknown) => void
  /** Signs our messages and checks the others' (the deployment's shared key). */
  signer: ChannelSigner
}

/** One member of the invalidation channel. */
export class Channel {
  /** This member's id on the channel: random, so never another's, nor ours again. */
  readonly id = randomBytes(8).toString('hex')
  private client: pg.Client | undefined
  private state: 'down' | 'joining' | 'up' | 'closed' = 'down'
  private readonly lease: Lease
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined
  private backoffMs = 100
  private seq = 0
  private readonly acks = new Acknowledgements(() => this.state === 'up')
  private readonly outbox: Outbox
  private started: Promise<void> | undefined
  private onUp: (() => void) | undefined
  private readonly inbox: Inbox
  private readonly strangers: Strangers

  constructor(private readonly options: ChannelOptions) {
    this.inbox = new Inbox(options.signer)
    this.strangers = new Strangers((message) => options.warn(message))
    this.lease = new Lease({
      id: this.id,
      signer: options.signer,
      client: () => this.client,
      ticking: () => this.state === 'up' || this.state === 'joining',
      lost: (client, error) => this.lost(client, error),
    })
    this.outbox = new Outbox({
      id: this.id,
      signer: options.signer,
      connection: () => (this.state === 'up' || this.state === 'joining' ? this.client : undefined),
      notifyElsewhere: (payloads) => options.notifyElsewhere(payloads),
      warn: (message, error) => options.warn(message, error),
      lost: (client, error) => this.lost(client, error),
      committed: (seq) => this.acks.committed(seq),
    })
  }

  /**
   * True while hits may be served: connected, the lease fresh, every listener counted at
   * joining heard from, and no process we cannot verify heard lately.
   */
  get live(): boolean {
    return this.state === 'up' && this.lease.fresh && this.strangers.quiet && this.acks.complete
  }

  /** Payloads ignored so far, by reason. */
  get rejected(): RejectedMessages {
    return this.inbox.rejected
  }

  private get isClosed(): boolean {
    return this.state === 'closed'
  }

  /** Connects and joins; resolves once the first join settled (it may have failed and retry). */
  start(): Promise<void> {
    this.started ??= this.join()
    this.lease.start()
    return this.started
  }

  /** Leaves the channel and closes the connection. */
  async close(): Promise<void> {
    if (this.state === 'closed') return
    const client = this.state === 'up' || this.state === 'joining' ? this.client : undefined
    this.state = 'closed'
    this.lease.stop()
    clearTimeout(this.reconnectTimer)
    this.acks.settleAll()
    this.client = undefined
    if (client) {
      try {
        await client.query('select pg_catalog.pg_notify($1, $2)', [
          CHANNEL,
          this.options.signer.sign(`b ${this.id}`),
        ])
      } catch {
        // Leaving quietly: the others stop waiting for us after MEMBER_TIMEOUT_MS.
      }
      await client.end().catch(() => {})
    }
  }

  /** Publishes `message` and resolves once every member applied it or lost its lease. */
  publish(message: Outgoing): Promise<void> {
    const seq = ++this.seq
    const done = this.acks.expect(seq)
    this.outbox.publish(message, seq)
    return done
  }

  // ---- joining and leaving ----

  private async join(): Promise<void> {
    if (this.state === 'closed') return
    let client: pg.Client | undefined
    try {
      client = await this.options.connect()
      client.on('notification', (n) => {
        if (this.client === client && n.channel === CHANNEL && n.payload !== undefined)
          this.receive(n.payload)
      })
      client.on('error', () => this.lost(client!))
      client.on('end', () => this.lost(client!))
      // close() may have run while connecting.
      if (this.isClosed) {
        await client.end().catch(() => {})
        return
      }
      this.client = client
      this.state = 'joining'
      await client.query(`LISTEN ${CHANNEL}`)
      // Listening now: whatever was cached before may have missed notifications.
      this.options.gap()
      this.acks.joined(await otherListeners(client))
      this.lease.restart()
      this.backoffMs = 100
      const up = new Promise<void>((resolve) => (this.onUp = resolve))
      await this.lease.send('h')
      // Joined once our hello came back and the others answered it (or give up waiting: the
      // ticks keep trying, and the others are given up on after MEMBER_TIMEOUT_MS).
      let timer: ReturnType<typeof setTimeout> | undefined
      await Promise.race([
        up,
        new Promise((resolve) => (timer = setTimeout(resolve, MEMBER_TIMEOUT_MS))),
      ])
      clearTimeout(timer)
      this.onUp = undefined
    } catch (error) {
      if (client !== undefined && this.client === client) this.lost(client, error)
      else if (client === undefined) this.retry(error)
    }
  }

  private lost(client: pg.Client, error?: unknown): void {
    if (this.client !== client || this.state === 'closed') return
    this.client = undefined
    this.state = 'down'
    this.lease.end()
    client.end().catch(() => {})
    this.options.gap()
    this.retry(error)
  }

  private retry(error: unknown): void {
    if (this.state === 'closed') return
    this.state = 'down'
    this.options.warn(
      'the cache lost its invalidation channel: it answers from the database until it reconnects',
      error,
    )
    clearTimeout(this.reconnectTimer)
    this.reconnectTimer = setTimeout(() => void this.join(), this.backoffMs)
    this.reconnectTimer.unref?.()
    this.backoffMs = Math.min(this.backoffMs * 2, 5000)
    // Messages waiting for this connection go another way.
    void this.outbox.send()
  }

  // ---- receiving ----

  private receive(payload: string): void {
    const received = this.inbox.read(payload)
    switch (received.kind) {
      case 'trigger':
        // Unsigned, from SQL: it can only drop entries, which anyone may make us do.
        this.options.apply(received.message)
        return
      case 'member':
        this.member(received.message)
        return
      case 'unverified':
        if (received.claims) this.unverified(received.claims)
        return
      case 'replay':
      case 'unknown':
        return
    }
  }

  /** A message signed with our key, and not a replayed tick. */
  private member(message: MemberMessage): void {
    if (message.from === this.id) return this.own(message)
    switch (message.type) {
      case 'hello':
        this.acks.heard(message.from)
        // A newcomer learns who is here from our answer.
        this.lease.nudge()
        this.joinedIfComplete()
        break
      case 'tick':
        this.acks.heard(message.from)
        this.joinedIfComplete()
        break
      case 'bye':
        this.acks.bye(message.from)
        this.joinedIfComplete()
        break
      case 'ack': {
        const seq = message.acks.get(this.id)
        if (seq !== undefined) this.acks.ack(message.from, seq)
        break
      }
      case 'tables':
      case 'all':
      case 'purge':
        this.options.apply(message)
        this.outbox.ack(message.from, message.seq)
        break
    }
    this.acks.recheck()
  }

  /**
   * A message shaped like a member's that does not check out (./strangers.ts). What it says
   * was written is dropped (anyone may make us drop entries); nothing else of it is believed.
   */
  private unverified(claims: MemberMessage): void {
    this.strangers.heard()
    if (claims.type === 'tables' || claims.type === 'all' || claims.type === 'purge')
      this.options.apply(claims)
  }

  /** Ends the join's wait once we are up and know who else listens. */
  private joinedIfComplete(): void {
    if (this.state !== 'up' || !this.acks.complete) return
    this.onUp?.()
    this.onUp = undefined
  }

  /** One of our own messages came back. */
  private own(message: MemberMessage): void {
    if (message.type === 'hello' || message.type === 'tick') {
      // Only a tick we sent and have not seen back yet counts (never one sent again).
      if (!this.lease.echoed(message.tick)) return
      if (message.type === 'hello' && this.state === 'joining') {
        this.state = 'up'
        this.joinedIfComplete()
      }
      return
    }
    if (message.type === 'tables' || message.type === 'all' || message.type === 'purge')
      this.acks.echo(message.seq)
  }
}
