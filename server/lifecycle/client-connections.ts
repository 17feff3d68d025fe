/**
 * `server.maxClientConnections`: the client connections one process holds, its HTTP
 * listener's (WebSocket upgrades included: they stay connections) and its PostgreSQL
 * listener's together, because they draw on one budget of file descriptors. Past the cap a
 * listener refuses a new connection at once (429 on HTTP, server/http/connection-guard.ts;
 * 53300 on pgPort, server/wire/tcp.ts), so a flood of connections, silent ones included,
 * cannot leave the process unable to accept anyone or to open its pools' connections
 * (EMFILE). While it refuses, a warning is logged at most once a second.
 */
import type { Duplex } from 'node:stream'
import { Counter, Gauge, type Registry } from 'prom-client'

/** The listener a client connection came through. */
export type ClientListener = 'http' | 'pg'

/** Options of {@link ClientConnections}. */
export interface ClientConnectionsOptions {
  /** The cap in force, read at each new connection (a reload may change it). */
  max: () => number
  /** Where the warning goes (the gateway's logger). */
  warn: (fields: Record<string, unknown>, message: string) => void
  /** Where the series go (the gateway's metrics registry). */
  registry?: Registry | undefined
}

const WARNING_INTERVAL_MS = 1_000

/** One process's client connections, counted against `server.maxClientConnections`. */
export class ClientConnections {
  private readonly options: ClientConnectionsOptions
  private readonly open: Record<ClientListener, number> = { http: 0, pg: 0 }
  private readonly refusals: Counter<'listener'> | undefined
  private readonly silentClosed: Counter | undefined
  private refusedSinceWarning = 0
  private warnedAt = -Infinity

  constructor(options: ClientConnectionsOptions) {
    this.options = options
    const registry = options.registry
    if (!registry) return
    const open = this.open
    new Gauge({
      name: 'sluice_client_connections',
      help: 'Client connections open now, by listener (http includes WebSocket upgrades)',
      labelNames: ['listener'],
      registers: [registry],
      collect() {
        for (const listener of ['http', 'pg'] as const) this.set({ listener }, open[listener])
      },
    })
    this.refusals = new Counter({
      name: 'sluice_client_connections_refused_total',
      help: 'Client connections refused because server.maxClientConnections were open',
      labelNames: ['listener'],
      registers: [registry],
    })
    this.silentClosed = new Counter({
      name: 'sluice_http_silent_connections_closed_total',
      help: 'HTTP connections closed for sending nothing within server.headersTimeoutMs',
      registers: [registry],
    })
  }

  /** Client connections open now, both listeners together. */
  get size(): number {
    return this.open.http + this.open.pg
  }

  /** Open connections of one listener. */
  count(listener: ClientListener): number {
    return this.open[listener]
  }

  /**
   * Counts `socket` in when there is room, until it closes, and returns true; otherwise
   * counts a refusal and returns false: the listener then refuses it.
   */
  admit(socket: Duplex, listener: ClientListener): boolean {
    const max = this.options.max()
    if (this.size >= max) {
      this.refuse(listener, max)
      return false
    }
    this.open[listener]++
    socket.once('close', () => this.open[listener]--)
    return true
  }

  /** An HTTP connection closed for sending nothing (server/http/connection-guard.ts). */
  closedSilent(): void {
    this.silentClosed?.inc()
  }

  private refuse(listener: ClientListener, max: number): void {
    this.refusals?.inc({ listener })
    this.refusedSinceWarning++
    const now = Date.now()
    if (now - this.warnedAt < WARNING_INTERVAL_MS) return
    this.warnedAt = now
    this.options.warn(
      { listener, open: this.size, max, refused: this.refusedSinceWarning },
      'client connections refused: server.maxClientConnections are open',
    )
    this.refusedSinceWarning = 0
  }
}
