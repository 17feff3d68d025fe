/**
 * One wire client, pooled per transaction. The session has no backend while its client is
 * idle; the first message that needs one borrows a connection from the tenant's pool
 * (admitted through server/tenants/admission.ts, like every HTTP request), and the
 * connection goes back at the ReadyForQuery that leaves the client idle, through the
 * pool's release path (which resets every session). Between the two, messages pass
 * through ./relay.ts; named prepared statements are the session's own (./statements.ts);
 * readonly tokens run inside READ ONLY transactions (./read-only.ts); state a transaction
 * leaves in the session pins the backend to the session (./session-state.ts).
 *
 * The session is told apart by concern: this file holds its state, what the handshake,
 * the server and the relay call, and its end; the client's messages and cycles are
 * ./client-cycle.ts, the ReadyForQuery that ends a cycle ./ready-for-query.ts, borrowing
 * and returning the backend ./session-backend.ts, cache invalidation ./cache-writes.ts and
 * cancels ./backend-cancel.ts. Those are free functions of the session, which is why its
 * state is not private; nothing outside these files touches it.
 */
import type { Duplex } from 'node:stream'
import type { WrittenStatements } from '../engine/written-statements.js'
import { LightSignal } from '../lifecycle/abort.js'
import type { Tenant } from '../tenants/tenant.js'
import type { Role } from '../tenants/tokens.js'
import { cancelBackend } from './backend-cancel.js'
import { bindCheckOf, pump } from './client-cycle.js'
import { ClientSocket } from './client-socket.js'
import { errorFieldsOf } from './errors.js'
import type { HiddenAnswer } from './hidden-answer.js'
import type { Lease } from './lease.js'
import {
  MalformedMessage,
  backendKeyData,
  errorResponse,
  parameterStatus,
  readyForQuery,
  type ErrorFields,
} from './messages.js'
import { OversizedMessage, type MessageReader } from './reader.js'
import { timeQuietCycle } from './ready-for-query.js'
import type { RelaySink } from './relay-sink.js'
import type { WireServer, WireTransport } from './server.js'
import { release } from './session-backend.js'
import type { ClientParameters } from './startup.js'
import { ClientStatements } from './statements.js'

/** What the handshake hands over. */
export interface SessionInit {
  stream: Duplex
  reader: MessageReader
  transport: WireTransport
  client: ClientParameters
  token: string
  tenant: Tenant
  role: Role
  parameters: ReadonlyMap<string, string>
  maxMessageBytes: number
}

/** A wire client's session. */
export class WireSession implements RelaySink {
  readonly processId: number
  readonly transport: WireTransport['kind']
  private readonly secretKey: number
  readonly server: WireServer
  readonly client: ClientSocket
  readonly init: SessionInit
  tenantName: string
  readOnly: boolean
  readonly statements = new ClientStatements()
  /** Checks each statement the client binds (made once: no closure per Bind). */
  readonly binding = bindCheckOf(this)
  readonly signal = new LightSignal()
  /** Why the inbox waits: a backend being borrowed, a gateway query, a readonly cycle. */
  stall: 'lease' | 'setup' | 'cycle' | 'end' | undefined
  lease: Lease | undefined
  pinned = false
  /** A statement that may leave session state ran since the last probe. */
  flagged = false
  /** Readonly: the client sent its own BEGIN (it joined the gateway's transaction). */
  clientOpened = false
  cycleOpen = false
  /** Readonly: a transaction-ending statement was bound in this cycle. */
  cycleEnded = false
  /**
   * Readonly: portals bound to a transaction-ending statement in this transaction, which a
   * later cycle may execute (a failed Bind leaves the portal of that name as it was).
   */
  readonly endingPortals = new Set<string>()
  /** Cycles sent to the backend whose ReadyForQuery has not come back yet. */
  cyclesInFlight = 0
  /** A statement of the open cycle may leave its transaction open (./client-cycle.ts). */
  cycleMayOutliveSync = false
  /** The message just handled ended a cycle that may take the session reset behind it. */
  resetCandidate = false
  /** The session reset sent behind the client's last Sync, while it has not answered. */
  pipelinedReset: HiddenAnswer | undefined
  /** An error was answered without a backend: skip to the next Sync. */
  skippingClient = false
  closed = false
  draining = false
  idleTimer: ReturnType<typeof setTimeout> | undefined
  transactionTimer: ReturnType<typeof setTimeout> | undefined
  transactions = 0
  /** Pinning was refused: the backend goes back (and is reset) as soon as it is idle. */
  releaseNext = false
  private readonly openedAt = Date.now()
  cycle: { started: number; sql: string; rows: number | null; error: unknown } | undefined
  /**
   * A cache-enabled writer's statements in this transaction, for the cache to drop what they
   * changed before the client hears the transaction is over (kept up to a bound, as an HTTP
   * transaction's are: a client could otherwise make the session hold every megabyte
   * statement of a long transaction).
   */
  written: WrittenStatements | undefined

  constructor(server: WireServer, init: SessionInit) {
    this.server = server
    this.init = init
    this.transport = init.transport.kind
    // The handshake read with PostgreSQL's startup limit; messages get the body limit.
    init.reader.maxLength = init.maxMessageBytes
    this.client = new ClientSocket(init.stream, init.reader, {
      messages: () => {
        clearTimeout(this.idleTimer)
        pump(this)
      },
      gone: () => this.finish('client closed the connection'),
      full: (full) => this.lease?.relay.pause(full),
      violation: (error) => this.protocolViolation(error),
    })
    this.tenantName = init.tenant.name
    this.readOnly = init.role === 'readonly'
    const key = server.register(this)
    this.processId = key.processId
    this.secretKey = key.secretKey
    this.greet()
    this.server.deps.logger.info(
      {
        session: this.processId,
        tenant: this.tenantName,
        transport: this.transport,
        remoteAddress: init.transport.remoteAddress,
        applicationName: init.client.applicationName || undefined,
        readOnly: this.readOnly || undefined,
      },
      'wire session opened',
    )
    // Messages the client pipelined behind its password (Neon's pipelineConnect).
    this.client.start()
  }

  /** A CancelRequest with this session's key. */
  cancelRequest(secretKey: number): void {
    if (secretKey !== this.secretKey) return
    const relay = this.lease?.relay
    if (relay?.busy) cancelBackend(relay)
  }

  /** The gateway drains: an idle session closes now, a busy one when its transaction ends. */
  drain(): void {
    this.draining = true
    if (this.atRest()) this.terminate(SHUTTING_DOWN)
  }

  /** The drain's grace period is over. */
  shutdown(): void {
    this.terminate(SHUTTING_DOWN)
  }

  // ---- RelaySink ----

  toClient(data: Buffer): void {
    this.client.send(data)
  }

  flush(): void {
    this.client.flush()
    timeQuietCycle(this)
  }

  notice(fields: Map<string, string>): boolean {
    // "there is already a transaction in progress": a readonly client's BEGIN joined ours.
    if (this.readOnly && fields.get('C') === '25001') {
      this.clientOpened = true
      return false
    }
    return true
  }

  clientError(fields: Map<string, string>): void {
    if (this.lease && this.lease.code === '') this.lease.code = 'DATABASE_ERROR'
    if (this.cycle && this.cycle.error === undefined)
      this.cycle.error = { code: fields.get('C'), message: fields.get('M') }
  }

  commandComplete(tag: string): void {
    // The client dropped prepared statements itself: the cache of this backend is stale.
    if (tag.startsWith('DEALLOCATE') || tag === 'DISCARD ALL')
      this.lease?.relay.connection.prepared.clear()
    if (this.cycle) {
      const count = Number(tag.slice(tag.lastIndexOf(' ') + 1))
      this.cycle.rows = Number.isInteger(count) ? count : this.cycle.rows
    }
  }

  backendFull(full: boolean): void {
    this.client.blockOnBackend(full)
  }

  lost(): void {
    this.terminate({
      severity: 'FATAL',
      code: '08006',
      message: 'the connection to the database was lost',
    })
  }

  stuck(): void {
    const relay = this.lease?.relay
    if (relay) cancelBackend(relay)
  }

  // ---- the greeting, and the session's end ----

  private greet(): void {
    const { parameters, client } = this.init
    const own = new Map<string, string>()
    for (const [name, value] of client.settings) own.set(name, value)
    for (const [name, value] of parameters) {
      const lower = name.toLowerCase()
      const shown =
        lower === 'client_encoding'
          ? 'UTF8'
          : lower === 'application_name'
            ? client.applicationName
            : (own.get(lower) ?? value)
      this.toClient(parameterStatus(name, shown))
    }
    this.toClient(backendKeyData(this.processId, this.secretKey))
    this.toClient(readyForQuery('I'))
    this.flush()
  }

  /** Idle between transactions (a pinned session included), nothing outstanding. */
  atRest(): boolean {
    const relay = this.lease?.relay
    return !relay || (!relay.busy && relay.status === 'I' && this.stall === undefined)
  }

  /** A message the session cannot take: FATAL for the client, a bug report if it is ours. */
  protocolViolation(error: unknown): void {
    if (error instanceof MalformedMessage || error instanceof OversizedMessage) {
      return this.terminate({
        severity: 'FATAL',
        code: error instanceof OversizedMessage ? '54000' : '08P01',
        message: error.message,
      })
    }
    this.server.deps.reportBug(error, undefined)
    this.terminate(errorFieldsOf(error))
  }

  /** Sends a FATAL error and closes the session. */
  terminate(fields: ErrorFields): void {
    if (this.closed) return
    this.toClient(errorResponse({ ...fields, severity: 'FATAL' }))
    this.flush()
    this.finish(fields.message)
  }

  /** Closes the session: its backend goes back, and the closing line is logged. */
  finish(reason: string): void {
    if (this.closed) return
    this.closed = true
    this.signal.abort()
    clearTimeout(this.idleTimer)
    clearTimeout(this.transactionTimer)
    release(this)
    this.server.unregister(this)
    this.client.close()
    this.server.deps.logger.info(
      {
        session: this.processId,
        tenant: this.tenantName,
        transport: this.transport,
        transactions: this.transactions,
        durationMs: Date.now() - this.openedAt,
        reason,
      },
      'wire session closed',
    )
  }
}

/** Why a draining gateway ends a session: 57P01, the SQLSTATE of a server shutting down. */
export const SHUTTING_DOWN: ErrorFields = {
  severity: 'FATAL',
  code: '57P01',
  message: 'the gateway is shutting down: reconnect to another instance',
}
