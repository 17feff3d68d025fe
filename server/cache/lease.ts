/**
 * A channel member's lease (./channel.ts): the member sends itself a tick every
 * {@link TICK_MS}, and PostgreSQL delivers notifications to every listener in commit order,
 * so when a tick comes back every notification committed before it has been applied. Hits
 * are served only while the last tick that came back was *sent* less than {@link LEASE_MS}
 * ago: a member cut off from the database, or too busy to read its notifications, stops
 * serving hits within the lease and reads the database instead.
 */
import type pg from 'pg'
import { LEASE_MS, TICK_MS } from './acks.js'
import { CHANNEL } from './messages.js'
import type { ChannelSigner } from './signature.js'

/** No tick back for this long on an open connection: it is presumed dead and replaced. */
const SILENT_CONNECTION_MS = 5000

/** What the lease needs from its member. */
export interface LeaseOptions {
  /** The member's id on the channel. */
  id: string
  signer: ChannelSigner
  /** The member's connection, while it has one. */
  client: () => pg.Client | undefined
  /** The member is joining or up: the timer's ticks go out. */
  ticking: () => boolean
  /** The connection failed, or fell silent: the member replaces it. */
  lost: (client: pg.Client, error: unknown) => void
}

/** The ticks a member sends itself, and what their return says. */
export class Lease {
  /** performance.now() at which the last returned tick was sent. */
  private anchor = -Infinity
  private lastEcho = 0
  private tick = 0
  /** The ticks sent and not seen back yet: their numbers and when they were sent. */
  private readonly sent = new Map<number, number>()
  /** A tick's query has not been answered yet: no other is sent meanwhile. */
  private inFlight = false
  private timer: ReturnType<typeof setInterval> | undefined

  constructor(private readonly options: LeaseOptions) {}

  /** The last tick that came back was sent less than LEASE_MS ago. */
  get fresh(): boolean {
    return performance.now() - this.anchor < LEASE_MS
  }

  /** Ticks every TICK_MS from now on. */
  start(): void {
    this.timer ??= setInterval(() => this.onTimer(), TICK_MS)
    this.timer.unref?.()
  }

  /** No more ticks (the member left). */
  stop(): void {
    clearInterval(this.timer)
  }

  /** Listening on a new connection: ticks sent before never count, silence counts from now. */
  restart(): void {
    this.sent.clear()
    this.lastEcho = performance.now()
  }

  /** The connection was lost: the lease ends at once. */
  end(): void {
    this.anchor = -Infinity
    this.inFlight = false
  }

  /** Sends a tick now, unless one is on its way (a newcomer learns who is here from it). */
  nudge(): void {
    if (!this.inFlight) void this.send('k')
  }

  /** Sends a tick: `h`, the hello that joins, or `k`, a keepalive. */
  async send(kind: 'h' | 'k'): Promise<void> {
    const client = this.options.client()
    if (!client) return
    const n = ++this.tick
    this.sent.set(n, performance.now())
    this.inFlight = true
    try {
      // Qualified: the role may put a schema of its own before pg_catalog, whose pg_notify
      // would swallow every tick (./catalog-query.ts).
      await client.query('select pg_catalog.pg_notify($1, $2)', [
        CHANNEL,
        this.options.signer.sign(`${kind} ${this.options.id} ${n}`),
      ])
    } catch (error) {
      this.options.lost(client, error)
    } finally {
      if (this.options.client() === client) this.inFlight = false
    }
  }

  /**
   * Our tick `n` came back: the lease runs from when it was sent. False for a tick not sent,
   * or seen back already (never one sent again).
   */
  echoed(n: number): boolean {
    const sentAt = this.sent.get(n)
    if (sentAt === undefined) return false
    for (const k of this.sent.keys()) if (k <= n) this.sent.delete(k)
    this.anchor = Math.max(this.anchor, sentAt)
    this.lastEcho = performance.now()
    return true
  }

  private onTimer(): void {
    if (!this.options.ticking()) return
    const client = this.options.client()
    if (performance.now() - this.lastEcho > SILENT_CONNECTION_MS && client) {
      this.options.lost(
        client,
        new Error(`no notification came back for ${SILENT_CONNECTION_MS} ms`),
      )
      return
    }
    this.nudge()
  }
}
