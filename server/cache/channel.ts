/**
 * How one tenant's cache in one gateway process hears about writes made elsewhere, and
 * makes its own writes heard: a dedicated connection (never a pooled one, which is reset
 * after every borrow) that LISTENs on the database's channel (./messages.ts). docs/cache.md
 * states the guarantee; the mechanism is:
 *
 * - **Lease.** The member sends itself a tick every {@link TICK_MS}. PostgreSQL delivers
 *   notifications to every listener in commit order, so when a tick comes back every
 *   notification committed before it has been applied. The cache answers from memory only
 *   while the last tick that came back was *sent* less than {@link LEASE_MS} ago: a member
 *   cut off from the database, or too busy to read its notifications, stops serving hits
 *   within the lease and reads the database instead.
 * - **Acknowledged writes.** A write's invalidation is applied locally, then published with
 *   a sequence number. Every other member applies it and answers with an ack. The write's
 *   answer waits until its own message came back (so every member that joined before it is
 *   known) and every member heard from in the last 2 s acked it (./acks.ts), or until
 *   {@link LEASE_MS} × 1.25 after it was committed, when any member that did not
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
import { Acknowledgements, LEASE_MS, MEMBER_TIMEOUT_MS, TICK_MS } from './acks.js'
import { Inbox } from './inbox.js'
import {
  CHANNEL,
  encodeOutgoing,
  type MemberMessage,
  type Message,
  type Outgoing,
} from './messages.js'
import type { ChannelSigner } from './signature.js'
import { Strangers } from './strangers.js'

/** No tick back for this long on an open connection: it is presumed dead and replaced. */
const SILENT_CONNECTION_MS = 5000
/** The application_name of listener connections (how a joining member counts the others). */
export const LISTENER_APPLICATION_NAME = 'sluice-cache'

/** Payloads a member ignored, by reason (the sluice_cache_messages_rejected_total metric). */
export interface RejectedMessages {
  /** Signed with another key, or not at all (triggers' messages aside). */
  signature: number
  /** Signed with our key, but a tick no newer than its member's last: sent again. */
  replay: number
}

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
  /** Payloads ignored so far, by reason. */
  readonly rejected: RejectedMessages = { signature: 0, replay: 0 }
  private client: pg.Client | undefined
  private state: 'down' | 'joining' | 'up' | 'closed' = 'down'
  /** performance.now() at which the last returned tick was sent. */
  private anchor = -Infinity
  private lastEcho = 0
  private tick = 0
  private readonly ticksSent = new Map<number, number>()
  private tickInFlight = false
  private tickTimer: ReturnType<typeof setInterval> | undefined
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined
  private backoffMs = 100
  private seq = 0
  private readonly acks = new Acknowledgements(() => this.state === 'up')
  private readonly outbox: { payload?: string; message?: Outgoing; seq: number }[] = []
  private sending = false
  private readonly acksOut = new Map<string, number>()
  private acksScheduled = false
  private started: Promise<void> | undefined
  private onUp: (() => void) | undefined
  private readonly inbox: Inbox
  private readonly strangers: Strangers

  constructor(private readonly options: ChannelOptions) {
    this.inbox = new Inbox(options.signer)
    this.strangers = new Strangers((message) => options.warn(message))
  }

  /**
   * True while hits may be served: connected, the lease fresh, every listener counted at
   * joining heard from, and no process we cannot verify heard lately.
   */
  get live(): boolean {
    return (
      this.state === 'up' &&
      performance.now() - this.anchor < LEASE_MS &&
      this.strangers.quiet &&
      this.acks.complete
    )
  }

  private get isClosed(): boolean {
    return this.state === 'closed'
  }

  /** Connects and joins; resolves once the first join settled (it may have failed and retry). */
  start(): Promise<void> {
    this.started ??= this.join()
    this.tickTimer ??= setInterval(() => this.onTickTimer(), TICK_MS)
    this.tickTimer.unref?.()
    return this.started
  }

  /** Leaves the channel and closes the connection. */
  async close(): Promise<void> {
    if (this.state === 'closed') return
    const client = this.state === 'up' || this.state === 'joining' ? this.client : undefined
    this.state = 'closed'
    clearInterval(this.tickTimer)
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
    this.outbox.push({ message, seq })
    void this.send()
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
      // Names are qualified here and below: the role may put a schema of its own before
      // pg_catalog, whose pg_notify would swallow every tick (./catalog-query.ts).
      const { rows } = await client.query<{ n: string }>(
        `select pg_catalog.count(*) as n from pg_catalog.pg_stat_activity
          where datname operator(pg_catalog.=) pg_catalog.current_database()
            and application_name operator(pg_catalog.=) $1
            and pid operator(pg_catalog.<>) pg_catalog.pg_backend_pid()`,
        [LISTENER_APPLICATION_NAME],
      )
      this.acks.joined(Number(rows[0]?.n ?? 0))
      this.ticksSent.clear()
      this.backoffMs = 100
      this.lastEcho = performance.now()
      const up = new Promise<void>((resolve) => (this.onUp = resolve))
      await this.sendTick('h')
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
    this.anchor = -Infinity
    this.tickInFlight = false
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
    void this.send()
  }

  // ---- ticks ----

  private onTickTimer(): void {
    if (this.state !== 'up' && this.state !== 'joining') return
    if (performance.now() - this.lastEcho > SILENT_CONNECTION_MS && this.client) {
      this.lost(this.client, new Error(`no notification came back for ${SILENT_CONNECTION_MS} ms`))
      return
    }
    if (!this.tickInFlight) void this.sendTick('k')
  }

  private async sendTick(kind: 'h' | 'k'): Promise<void> {
    const client = this.client
    if (!client) return
    const n = ++this.tick
    this.ticksSent.set(n, performance.now())
    this.tickInFlight = true
    try {
      await client.query('select pg_catalog.pg_notify($1, $2)', [
        CHANNEL,
        this.options.signer.sign(`${kind} ${this.id} ${n}`),
      ])
    } catch (error) {
      this.lost(client, error)
    } finally {
      if (this.client === client) this.tickInFlight = false
    }
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
      case 'replay':
        this.rejected.replay++
        return
      case 'unverified':
        this.rejected.signature++
        if (received.claims) this.unverified(received.claims)
        return
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
        if (!this.tickInFlight) void this.sendTick('k')
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
        this.acksOut.set(message.from, Math.max(message.seq, this.acksOut.get(message.from) ?? 0))
        this.scheduleAcks()
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
      const sentAt = this.ticksSent.get(message.tick)
      if (sentAt === undefined) return
      for (const n of this.ticksSent.keys()) if (n <= message.tick) this.ticksSent.delete(n)
      this.anchor = Math.max(this.anchor, sentAt)
      this.lastEcho = performance.now()
      if (message.type === 'hello' && this.state === 'joining') {
        this.state = 'up'
        this.joinedIfComplete()
      }
      return
    }
    if (message.type === 'tables' || message.type === 'all' || message.type === 'purge')
      this.acks.echo(message.seq)
  }

  // ---- sending ----

  private scheduleAcks(): void {
    if (this.acksScheduled) return
    this.acksScheduled = true
    setImmediate(() => {
      this.acksScheduled = false
      if (this.acksOut.size === 0) return
      const acks = [...this.acksOut].map(([origin, seq]) => `${origin}:${seq}`).join(',')
      this.acksOut.clear()
      this.outbox.push({ payload: `a ${this.id} ${acks}`, seq: 0 })
      void this.send()
    })
  }

  /**
   * Sends the outbox, up to 100 payloads a statement, through our connection (or another
   * while it is down); each write's deadline starts once its payload was committed.
   */
  private async send(): Promise<void> {
    if (this.sending) return
    this.sending = true
    try {
      while (this.outbox.length > 0) {
        const batch = this.outbox.splice(0, 100)
        const payloads = encodeOutgoing(this.id, batch).map((p) => this.options.signer.sign(p))
        const client = this.state === 'up' || this.state === 'joining' ? this.client : undefined
        try {
          if (!client) throw new Error('the invalidation channel is down')
          const calls = payloads.map((_, i) => `pg_catalog.pg_notify($1, $${i + 2})`).join(', ')
          await client.query(`select ${calls}`, [CHANNEL, ...payloads])
        } catch (error) {
          try {
            await this.options.notifyElsewhere(payloads)
          } catch (again) {
            this.options.warn(
              'an invalidation could not be published: other gateways may keep old answers until their TTL',
              again,
            )
          }
          if (client) this.lost(client, error)
        }
        for (const { seq } of batch) if (seq > 0) this.acks.committed(seq)
      }
    } finally {
      this.sending = false
    }
  }
}
