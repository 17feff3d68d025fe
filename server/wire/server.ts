/**
 * The PostgreSQL protocol side of the gateway: every wire session, whichever listener it
 * came through (the TCP listener of ./tcp.ts, the WebSocket endpoint of
 * server/http/websocket.ts), the keys their CancelRequests present, the sessions pinned
 * to a backend per tenant, and the drain. A listener hands each new connection to
 * {@link WireServer.accept}; docs/wire.md describes the whole.
 */
import { randomInt } from 'node:crypto'
import type { Duplex } from 'node:stream'
import { Gauge } from 'prom-client'
import type { Config } from '../config/schema.js'
import type { ReportBug } from '../errors.js'
import type { Logger } from '../log/logger.js'
import type { RequestRecorder } from '../log/request-recorder.js'
import type { Metrics } from '../metrics/metrics.js'
import type { AdmissionDeps } from '../tenants/admission.js'
import type { Tenant } from '../tenants/tenant.js'
import { handshake } from './handshake.js'
import type { ErrorFields } from './messages.js'
import { SHUTTING_DOWN, TOO_MANY_HANDSHAKES, refuseConnection } from './refusal.js'
import { ScramKeyring } from './scram.js'
import type { WireSession } from './session.js'

/** What the wire side needs from the gateway. */
export interface WireDeps {
  admission: AdmissionDeps
  /** The config in force (a reload changes it): tokens for SCRAM, tenants' limits. */
  config: () => Config
  logger: Logger
  recorder: RequestRecorder
  metrics?: Metrics | undefined
  reportBug: ReportBug
}

/** Options of {@link WireServer}. */
export interface WireOptions {
  /** Ask for SCRAM-SHA-256 even where cleartext is allowed (TLS, loopback). @default false */
  scramOnly?: boolean
  /** How long a client may take to connect and authenticate. @default 15000 */
  handshakeTimeoutMs?: number
  /**
   * This worker's index on its node (0 without workers): the low byte of every session's
   * process id, so that a CancelRequest, which may reach any worker, finds its session's.
   */
  worker?: number
  /** Passes a CancelRequest for another worker's session on to it. */
  relayCancel?: (worker: number, processId: number, secretKey: number) => void
}

/** One client connection, whichever listener it came through. */
export interface WireTransport {
  stream: Duplex
  kind: 'tcp' | 'websocket'
  remoteAddress: string
  /** Encrypted between the client and the gateway (TLS, or a WebSocket behind TLS). */
  secure: boolean
  /** Answers an SSLRequest: wraps the socket in TLS (TCP with a certificate configured). */
  startTls?: () => Duplex
  /**
   * The client's token was admitted and its session opens: the listener may now let it send
   * larger messages than a client that has not authenticated (the WebSocket's `maxPayload`).
   */
  authenticated?: () => void
}

/** The gateway's wire sessions. */
export class WireServer {
  readonly deps: WireDeps
  readonly options: Required<Omit<WireOptions, 'relayCancel'>> & {
    relayCancel: WireOptions['relayCancel'] | undefined
  }
  readonly keyring = new ScramKeyring()
  private readonly sessions = new Set<WireSession>()
  private readonly byProcessId = new Map<number, WireSession>()
  private readonly pinned = new Map<string, number>()
  private readonly connecting = new Set<Duplex>()
  private draining = false

  constructor(deps: WireDeps, options: WireOptions = {}) {
    this.deps = deps
    this.options = {
      scramOnly: options.scramOnly ?? false,
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? 15_000,
      worker: options.worker ?? 0,
      relayCancel: options.relayCancel,
    }
    if (deps.metrics) this.registerMetrics(deps.metrics)
  }

  /** Whether the gateway is draining: no new sessions, idle ones closed. */
  get isDraining(): boolean {
    return this.draining
  }

  /** Connections whose handshake runs now (not yet a session, nor refused). */
  get handshakes(): number {
    return this.connecting.size
  }

  /**
   * Serves a new client connection until it closes. During the drain (57P03), or past
   * `server.wireMaxHandshakes` connections still authenticating (53300), a new one is refused
   * (./refusal.ts): a few bytes of it are read, its CancelRequest served, its SSLRequest
   * answered, and anything else told why and closed. What clients that have not
   * authenticated can make the gateway hold stays bounded.
   */
  accept(transport: WireTransport): void {
    if (this.draining) return this.refuse(transport, SHUTTING_DOWN)
    if (this.connecting.size >= this.deps.config().server.wireMaxHandshakes)
      return this.refuse(transport, TOO_MANY_HANDSHAKES)
    this.connecting.add(transport.stream)
    handshake(this, transport)
      .catch((error: unknown) => this.deps.reportBug(error, undefined))
      .finally(() => this.connecting.delete(transport.stream))
  }

  private refuse(transport: WireTransport, refusal: ErrorFields): void {
    refuseConnection(this, transport, refusal).catch((error: unknown) => {
      transport.stream.destroy()
      this.deps.reportBug(error, undefined)
    })
  }

  /** Registers a session that passed authentication; returns its process id and key. */
  register(session: WireSession): { processId: number; secretKey: number } {
    let processId: number
    do
      processId =
        this.options.worker === 0
          ? randomInt(1, 2 ** 31 - 1)
          : (randomInt(1, 2 ** 23 - 1) << 8) | this.options.worker
    while (this.byProcessId.has(processId))
    this.sessions.add(session)
    this.byProcessId.set(processId, session)
    return { processId, secretKey: randomInt(-(2 ** 31), 2 ** 31 - 1) }
  }

  unregister(session: WireSession): void {
    this.sessions.delete(session)
    if (this.byProcessId.get(session.processId) === session)
      this.byProcessId.delete(session.processId)
  }

  /** A CancelRequest: cancels what the session with that key runs now, if anything. */
  cancel(processId: number, secretKey: number): void {
    const worker = processId & 0xff
    if (this.options.worker !== 0 && worker !== this.options.worker) {
      this.options.relayCancel?.(worker, processId, secretKey)
      return
    }
    this.byProcessId.get(processId)?.cancelRequest(secretKey)
  }

  /** Pins one more session of `tenant` unless its cap is reached. */
  tryPin(tenant: Tenant): boolean {
    // This process's share of pool.max when the pool is divided (workers, cluster nodes).
    const cap = Math.floor(tenant.pool.maxSize * tenant.config.transactions.maxOpenShare)
    const now = this.pinned.get(tenant.name) ?? 0
    if (now >= cap) return false
    this.pinned.set(tenant.name, now + 1)
    return true
  }

  unpin(tenant: string): void {
    const now = this.pinned.get(tenant) ?? 0
    if (now <= 1) this.pinned.delete(tenant)
    else this.pinned.set(tenant, now - 1)
  }

  /** Sessions pinned to a backend now, for one tenant or all. */
  pinnedCount(tenant?: string): number {
    if (tenant !== undefined) return this.pinned.get(tenant) ?? 0
    let n = 0
    for (const count of this.pinned.values()) n += count
    return n
  }

  /** Open sessions now. */
  get size(): number {
    return this.sessions.size
  }

  /**
   * The gateway drains: connections still authenticating are closed, idle sessions are
   * told (57P01) and closed, and the others once their transaction ends.
   */
  drain(): void {
    this.draining = true
    for (const stream of this.connecting) stream.destroy()
    for (const session of this.sessions) session.drain()
  }

  /** Closes every session now (after the drain's grace period). */
  close(): void {
    this.drain()
    for (const session of [...this.sessions]) session.shutdown()
  }

  private registerMetrics(metrics: Metrics): void {
    const sessions = () => [...this.sessions]
    new Gauge({
      name: 'sluice_wire_sessions',
      help: 'PostgreSQL protocol sessions open now, by listener',
      labelNames: ['transport'],
      registers: [metrics.registry],
      collect() {
        this.reset()
        for (const kind of ['tcp', 'websocket'] as const)
          this.set({ transport: kind }, sessions().filter((s) => s.transport === kind).length)
      },
    })
    const pinned = this.pinned
    new Gauge({
      name: 'sluice_wire_pinned_sessions',
      help: 'PostgreSQL protocol sessions pinned to a backend (session state), by tenant',
      labelNames: ['tenant'],
      registers: [metrics.registry],
      collect() {
        this.reset()
        for (const [tenant, n] of pinned) this.set({ tenant }, n)
      },
    })
  }
}
