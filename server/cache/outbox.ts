/**
 * What a channel member (./channel.ts) sends besides its ticks: its writes' invalidations,
 * each with a sequence number, and its acks of the others' writes, gathered and sent once per
 * turn of the event loop. Payloads are signed and sent up to 100 a statement through the
 * member's connection, or through another (the pool) while it is down.
 */
import type pg from 'pg'
import { CHANNEL, encodeOutgoing, type Outgoing } from './messages.js'
import type { ChannelSigner } from './signature.js'

/** What the outbox needs from its member. */
export interface OutboxOptions {
  /** The member's id on the channel. */
  id: string
  signer: ChannelSigner
  /** The member's connection, while messages may go through it. */
  connection: () => pg.Client | undefined
  /** Sends payloads through another connection (the pool). */
  notifyElsewhere: (payloads: string[]) => Promise<void>
  warn: (message: string, error?: unknown) => void
  /** Sending through `client` failed: the member replaces the connection. */
  lost: (client: pg.Client, error: unknown) => void
  /** Write `seq`'s message was committed: its deadline starts (./acks.ts). */
  committed: (seq: number) => void
}

/** A member's messages on their way out. */
export class Outbox {
  private readonly queue: { payload?: string; message?: Outgoing; seq: number }[] = []
  private sending = false
  /** The highest write of each other member applied and not yet acked. */
  private readonly acksOut = new Map<string, number>()
  private acksScheduled = false

  constructor(private readonly options: OutboxOptions) {}

  /** Sends the invalidation of write `seq`. */
  publish(message: Outgoing, seq: number): void {
    this.queue.push({ message, seq })
    void this.send()
  }

  /** Member `from`'s write `seq` was applied: it is acked with the turn's other acks. */
  ack(from: string, seq: number): void {
    this.acksOut.set(from, Math.max(seq, this.acksOut.get(from) ?? 0))
    this.scheduleAcks()
  }

  private scheduleAcks(): void {
    if (this.acksScheduled) return
    this.acksScheduled = true
    setImmediate(() => {
      this.acksScheduled = false
      if (this.acksOut.size === 0) return
      const acks = [...this.acksOut].map(([origin, seq]) => `${origin}:${seq}`).join(',')
      this.acksOut.clear()
      this.queue.push({ payload: `a ${this.options.id} ${acks}`, seq: 0 })
      void this.send()
    })
  }

  /**
   * Sends what is queued, up to 100 payloads a statement, through the member's connection (or
   * another while it is down); each write's deadline starts once its payload was committed.
   */
  async send(): Promise<void> {
    if (this.sending) return
    this.sending = true
    const options = this.options
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, 100)
        const payloads = encodeOutgoing(options.id, batch).map((p) => options.signer.sign(p))
        const client = options.connection()
        try {
          if (!client) throw new Error('the invalidation channel is down')
          const calls = payloads.map((_, i) => `pg_catalog.pg_notify($1, $${i + 2})`).join(', ')
          await client.query(`select ${calls}`, [CHANNEL, ...payloads])
        } catch (error) {
          try {
            await options.notifyElsewhere(payloads)
          } catch (again) {
            options.warn(
              'an invalidation could not be published: other gateways may keep old answers until their TTL',
              again,
            )
          }
          if (client) options.lost(client, error)
        }
        for (const { seq } of batch) if (seq > 0) options.committed(seq)
      }
    } finally {
      this.sending = false
    }
  }
}
