/**
 * One wire client, pooled per transaction. The session has no backend while its client is
 * idle; the first message that needs one borrows a connection from the tenant's pool
 * (admitted through server/tenants/admission.ts, like every HTTP request), and the
 * connection goes back at the ReadyForQuery that leaves the client idle, through the
 * pool's release path (which resets every session). Between the two, messages pass
 * through ./relay.ts; named prepared statements are the session's own (./statements.ts);
 * readonly tokens run inside READ ONLY transactions (./read-only.ts); state a transaction
 * leaves in the session pins the backend to the session (./session-state.ts).
 */
import type { Duplex } from 'node:stream'
import type { WriteEffect } from '../cache/catalog.js'
import type { TenantCache } from '../cache/tenant-cache.js'
import { analyzeSql, type SqlAnalysis } from '../engine/analyze.js'
import { WrittenStatements } from '../engine/written-statements.js'
import { beginSql } from '../engine/run.js'
import { LightSignal } from '../lifecycle/abort.js'
import { resetSqlFor } from '../pool/session-reset.js'
import type { Tenant } from '../tenants/tenant.js'
import type { Principal, Role } from '../tenants/tokens.js'
import { errorFieldsOf } from './errors.js'
import { ClientSocket } from './client-socket.js'
import { Lease, type LeaseEnd } from './lease.js'
import {
  BodyReader,
  CLOSE_COMPLETE,
  MalformedMessage,
  backendKeyData,
  errorResponse,
  parameterStatus,
  queryMessage,
  readyForQuery,
  type ErrorFields,
} from './messages.js'
import { AFTER_END_REFUSAL, endsTransaction, readOnlyRefusal } from './read-only.js'
import { OversizedMessage, bodyOf, rawOf, type MessageReader, type WireMessage } from './reader.js'
import type { HiddenAnswer } from './hidden-answer.js'
import { FRONTEND as M, NEEDS_BACKEND } from './message-types.js'
import { UNTIL, type Pending } from './pending.js'
import type { Relay } from './relay.js'
import type { RelaySink } from './relay-sink.js'
import type { WireServer, WireTransport } from './server.js'
import { sessionStateKinds, sessionStateSql } from './session-state.js'
import { applySettingsSql, type ClientParameters } from './startup.js'
import { ClientStatements } from './statements.js'

/**
 * Words of a statement that may leave its transaction open after the Sync that ends its cycle
 * (BEGIN, START TRANSACTION, … AND CHAIN) or that talk to the client in a way a query sent
 * behind them would break (COPY). Matched anywhere in the text, comments and strings
 * included: a false match only costs the pipelined reset.
 */
const MAY_OUTLIVE_SYNC = /begin|start|chain|copy/i

/** How long PostgreSQL gets to honour a cancel before the socket is closed. */
const CANCEL_GRACE_MS = 5_000

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
  private readonly server: WireServer
  private readonly client: ClientSocket
  private readonly init: SessionInit
  private tenantName: string
  private readOnly: boolean
  private readonly statements = new ClientStatements()
  private readonly signal = new LightSignal()
  /** Why the inbox waits: a backend being borrowed, a gateway query, a readonly cycle. */
  private stall: 'lease' | 'setup' | 'cycle' | 'end' | undefined
  private lease: Lease | undefined
  private pinned = false
  /** A statement that may leave session state ran since the last probe. */
  private flagged = false
  /** Readonly: the client sent its own BEGIN (it joined the gateway's transaction). */
  private clientOpened = false
  private cycleOpen = false
  /** Readonly: a transaction-ending statement was bound in this cycle. */
  private cycleEnded = false
  /**
   * Readonly: portals bound to a transaction-ending statement in this transaction, which a
   * later cycle may execute (a failed Bind leaves the portal of that name as it was).
   */
  private readonly endingPortals = new Set<string>()
  /** Cycles sent to the backend whose ReadyForQuery has not come back yet. */
  private cyclesInFlight = 0
  /** A statement of the open cycle may leave its transaction open (see MAY_OUTLIVE_SYNC). */
  private cycleMayOutliveSync = false
  /** The message just handled ended a cycle that may take the session reset behind it. */
  private resetCandidate = false
  /** The session reset sent behind the client's last Sync, while it has not answered. */
  private pipelinedReset: HiddenAnswer | undefined
  /** An error was answered without a backend: skip to the next Sync. */
  private skippingClient = false
  private closed = false
  private draining = false
  private idleTimer: ReturnType<typeof setTimeout> | undefined
  private transactionTimer: ReturnType<typeof setTimeout> | undefined
  private transactions = 0
  /** Pinning was refused: the backend goes back (and is reset) as soon as it is idle. */
  private releaseNext = false
  private readonly openedAt = Date.now()
  private cycle: { started: number; sql: string; rows: number | null; error: unknown } | undefined
  /**
   * A cache-enabled writer's statements in this transaction, for the cache to drop what they
   * changed before the client hears the transaction is over (kept up to a bound, as an HTTP
   * transaction's are: a client could otherwise make the session hold every megabyte
   * statement of a long transaction).
   */
  private written: WrittenStatements | undefined

  constructor(server: WireServer, init: SessionInit) {
    this.server = server
    this.init = init
    this.transport = init.transport.kind
    // The handshake read with PostgreSQL's startup limit; messages get the body limit.
    init.reader.maxLength = init.maxMessageBytes
    this.client = new ClientSocket(init.stream, init.reader, {
      messages: () => {
        clearTimeout(this.idleTimer)
        this.pump()
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
    if (relay?.busy) this.cancelBackend(relay)
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
    this.timeQuietCycle()
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
    if (relay) this.cancelBackend(relay)
  }

  // ---- the client side ----

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

  /** Handles queued client messages until one must wait. */
  private pump(): void {
    try {
      let next: WireMessage | undefined
      while (!this.closed && this.stall === undefined && (next = this.client.peek())) {
        if (!this.handle(next)) break
        this.client.consume()
      }
    } catch (error) {
      return this.protocolViolation(error)
    }
    // The client's transaction ends at the Sync just sent and it sent nothing after it: the
    // session reset goes in the same write (./lease.ts releaseAfterReset).
    if (this.resetCandidate && this.lease && this.client.peek() === undefined)
      this.pipelinedReset = this.lease.relay.queryLater(resetSqlFor(this.lease.relay.connection))
    this.resetCandidate = false
    this.lease?.relay.flushOut()
    this.client.updateReading()
    this.flush()
  }

  private resume(): void {
    this.stall = undefined
    this.pump()
  }

  /** Handles one message; false when it must wait (it is handled again later). */
  private handle(m: WireMessage): boolean {
    this.resetCandidate = false
    const type = m.type
    if (type === M.terminate) {
      this.finish('client terminated')
      return true
    }
    if (type === M.sync) return this.sync(m)
    const relay = this.lease?.relay
    // PostgreSQL skips everything up to Sync after an error; so does the session.
    if (this.skippingClient || relay?.skipping) return true
    if (type === M.flush || type === M.copyData || type === M.copyDone || type === M.copyFail) {
      relay?.send(rawOf(m))
      return true
    }
    if (type === M.close && this.statements.close(bodyOf(m))) {
      this.answer(CLOSE_COMPLETE)
      return true
    }
    if (!NEEDS_BACKEND.has(type))
      throw new MalformedMessage(`invalid frontend message type ${String.fromCharCode(type)}`)
    if (!relay) {
      this.borrow()
      return false
    }
    if (!this.cycleOpen && !this.openCycle(relay)) return false
    switch (type) {
      case M.query:
        this.query(relay, m)
        break
      case M.parse:
        this.statements.parse(relay, m)
        break
      case M.bind:
        this.statements.bind(relay, m, this.binding)
        break
      case M.describe:
        this.statements.describe(relay, m)
        break
      case M.execute:
        if (this.readOnly && this.endingPortals.has(new BodyReader(bodyOf(m)).cstring()))
          this.cycleEnded = true
        relay.send(rawOf(m), { until: UNTIL.execute })
        break
      case M.close:
        relay.send(rawOf(m), { until: UNTIL.close })
        break
      default:
        // FunctionCall: answered by FunctionCallResponse and ReadyForQuery.
        this.written?.forget()
        this.cycleMayOutliveSync = true
        if (this.readOnly && this.cycleEnded) this.refuseCycle(relay, AFTER_END_REFUSAL)
        else relay.send(rawOf(m), this.cycleEnd())
        this.endCycle()
    }
    return true
  }

  private sync(m: WireMessage): boolean {
    const relay = this.lease?.relay
    this.skippingClient = false
    if (!relay) {
      this.answer(readyForQuery('I'))
      return true
    }
    relay.skipping = false
    relay.send(rawOf(m), this.cycleEnd())
    this.resetCandidate = this.mayTakeReset(relay)
    this.endCycle()
    return true
  }

  /**
   * True when the cycle just sent is sure to leave the backend idle with nothing of the
   * session's on it, so that the session reset may follow it in the same write: the only
   * cycle in flight, begun idle, none of its statements able to keep a transaction open,
   * and nothing that needs the backend after it (a readonly token's COMMIT, the session-state
   * probe, a cache invalidation, a pinned session).
   */
  private mayTakeReset(relay: Relay): boolean {
    return (
      this.cyclesInFlight === 1 &&
      relay.status === 'I' &&
      !this.cycleMayOutliveSync &&
      !this.readOnly &&
      !this.pinned &&
      !this.flagged &&
      !this.releaseNext &&
      this.written === undefined
    )
  }

  private answer(data: Buffer): void {
    const relay = this.lease?.relay
    if (relay) relay.answer(data)
    else this.toClient(data)
  }

  /** The first message of a cycle (up to Sync): readonly tokens begin READ ONLY first. */
  private openCycle(relay: Relay): boolean {
    this.cycleOpen = true
    this.cycle = { started: performance.now(), sql: '', rows: null, error: undefined }
    if (!this.readOnly || relay.status !== 'I') return true
    this.stall = 'setup'
    void relay.query(beginSql({}, true)).then((result) => {
      if (result.error || result.status !== 'T') {
        return this.terminate({
          severity: 'FATAL',
          code: '08006',
          message: 'the gateway could not begin the READ ONLY transaction',
        })
      }
      this.resume()
    })
    return false
  }

  private cycleEnd(): Pending {
    this.cyclesInFlight++
    return { until: UNTIL.sync, sync: true, onReady: (status, raw) => this.ready(status, raw) }
  }

  private endCycle(): void {
    this.cycleMayOutliveSync = false
    this.cycleOpen = false
    this.cycleEnded = false
    // A readonly cycle's end may need a COMMIT before the next one starts.
    if (this.readOnly) this.stall = 'cycle'
  }

  private note(text: string, analysis: SqlAnalysis): void {
    if (analysis.sessionWords) this.flagged = true
    if (MAY_OUTLIVE_SYNC.test(text)) this.cycleMayOutliveSync = true
    this.written?.add(text)
    if (this.cycle && this.cycle.sql === '') this.cycle.sql = text
  }

  private query(relay: Relay, m: WireMessage): void {
    const text = new BodyReader(bodyOf(m)).cstring()
    const analysis = analyzeSql(text)
    this.note(text, analysis)
    // After a COMMIT bound in this cycle, PostgreSQL would run it in a new, read-write
    // transaction of its own.
    const refusal = !this.readOnly
      ? undefined
      : this.cycleEnded
        ? AFTER_END_REFUSAL
        : readOnlyRefusal(analysis, text)
    if (refusal) this.refuseCycle(relay, refusal)
    else relay.send(rawOf(m), this.cycleEnd())
    this.resetCandidate = this.mayTakeReset(relay)
    this.endCycle()
  }

  /** Fails a Query or FunctionCall the way PostgreSQL fails one: an error, then ReadyForQuery. */
  private refuseCycle(relay: Relay, refusal: ErrorFields): void {
    relay.send(queryMessage('SLUICE REFUSED'), {
      ...this.cycleEnd(),
      replaceError: errorResponse(refusal),
    })
  }

  /** A statement about to be bound: noted, and held to the readonly rules. */
  private readonly binding = (
    text: string,
    analysis: SqlAnalysis,
    portal: string,
  ): ErrorFields | undefined => {
    this.note(text, analysis)
    if (!this.readOnly) return undefined
    const refusal = this.cycleEnded ? AFTER_END_REFUSAL : readOnlyRefusal(analysis, text)
    if (!refusal && endsTransaction(analysis)) {
      this.cycleEnded = true
      this.endingPortals.add(portal)
    }
    return refusal
  }

  // ---- the backend's ReadyForQuery, borrowing and releasing ----

  private ready(status: string, raw: Buffer): void {
    this.cyclesInFlight--
    const lease = this.lease
    if (!lease) return
    if (this.pipelinedReset && status !== 'I') {
      // The reset ran inside the client's transaction: mayTakeReset was wrong. Never reached
      // by design; should it be, the client must not go on in a transaction the reset changed.
      this.server.deps.reportBug(
        new Error(`a session reset was sent behind a cycle that left status ${status}`),
        undefined,
      )
      return this.terminate({
        severity: 'FATAL',
        code: 'XX000',
        message: 'internal error: the session was reset inside its transaction',
      })
    }
    if (this.readOnly && status !== 'I' && !this.clientOpened) {
      // The client's statements ran inside the gateway's READ ONLY transaction: end it.
      this.stall = 'end'
      void lease.relay.query(status === 'T' ? 'COMMIT' : 'ROLLBACK').then((result) => {
        if (result.status === '') return
        if (result.error) this.toClient(errorResponse(fieldsOf(result.error)))
        this.settle('I', undefined)
      })
      return
    }
    if (status === 'I') this.clientOpened = false
    this.settle(status, raw)
  }

  /** The client's cycle is over: probe for session state if needed, answer, maybe release. */
  private settle(status: string, raw: Buffer | undefined): void {
    const lease = this.lease
    if (!lease) return
    // The transaction is over, and its portals with it.
    if (status === 'I') this.endingPortals.clear()
    if (status === 'I' && this.invalidate(lease, () => this.settle(status, raw))) return
    this.reportCycle(lease)
    if (status === 'I' && this.flagged && !this.pinned && !lease.relay.busy) {
      this.stall = 'end'
      void lease.relay.query(sessionStateSql(this.init.client.settings.keys())).then((result) => {
        if (result.status === '') return
        const kinds = result.error ? ['unknown'] : sessionStateKinds(result.rows)
        this.flagged = false
        if (kinds.length > 0) this.pin(lease, kinds)
        this.toClient(raw ?? readyForQuery('I'))
        this.afterReady('I')
      })
      return
    }
    this.toClient(raw ?? readyForQuery(status))
    this.afterReady(status)
  }

  /**
   * At the end of a transaction that may have written, drops what it changed from every
   * cache, then calls `then`: the client learns the transaction is over only afterwards.
   * Returns false when there is nothing to wait for.
   */
  private invalidate(lease: Lease, then: () => void): boolean {
    const cache = lease.tenant.cache
    const written = this.written
    if (!cache || written === undefined || written.empty) return false
    this.written = new WrittenStatements()
    const effect = this.effectOf(cache, written)
    if ('kind' in effect && effect.kind === 'none') return false
    this.stall = 'end'
    void Promise.resolve(effect)
      .then((e) => cache.written(e))
      .then(() => {
        if (this.lease === lease && !this.closed) then()
      })
    return true
  }

  /**
   * The backend goes while answers are still due (the client left, or the session ended,
   * behind a COMMIT or a write alone in its transaction): PostgreSQL may commit it all the
   * same, and nobody waits for its ReadyForQuery. What it may have written is dropped from
   * every cache once the backend's connection has closed, when it has committed or never
   * will: dropped earlier, a read in between could keep the old value.
   */
  private invalidateWhenGone(lease: Lease): void {
    const cache = lease.tenant.cache
    const written = this.written
    if (!cache || written === undefined || written.empty) return
    const effect = this.effectOf(cache, written)
    void lease.relay.connection.ended.then(async () => cache.written(await effect)).catch(() => {})
  }

  /**
   * What the statements `written` may have changed. The catalog resolves
   * their table names with the role's own search_path: a session that set its own (at
   * connect time, or by a SET it is pinned for) may have written other tables of the same
   * names, so a write of named tables drops everything instead.
   */
  private effectOf(
    cache: TenantCache,
    written: WrittenStatements,
  ): WriteEffect | Promise<WriteEffect> {
    const sqls = written.sqls()
    if (sqls === 'all')
      return {
        kind: 'all',
        why: 'what the session ran is unknown or too much to keep',
        schema: true,
      }
    const effect = cache.knownEffect(sqls) ?? cache.effect(sqls)
    if (!this.pinned && !this.init.client.settings.has('search_path')) return effect
    const widen = (e: WriteEffect): WriteEffect =>
      e.kind === 'tables'
        ? {
            kind: 'all',
            why: 'the session resolves names with a search_path of its own',
            schema: false,
          }
        : e
    return 'kind' in effect ? widen(effect) : effect.then(widen)
  }

  private pin(lease: Lease, kinds: string[]): void {
    const { logger } = this.server.deps
    if (this.server.tryPin(lease.tenant)) {
      this.pinned = true
      logger.info(
        { session: this.processId, tenant: lease.tenant.name, state: kinds.join(', ') },
        'wire session pinned to its backend',
      )
      return
    }
    // The state goes with the reset the connection gets on release.
    this.flagged = true
    lease.code = 'TX_LIMIT_REACHED'
    this.toClient(
      errorResponse({
        severity: 'ERROR',
        code: '53400',
        message: `this session left ${kinds.join(', ')} behind, which needs a backend of its own, and tenant ${lease.tenant.name} already has its maximum of pinned sessions: the session state was reset`,
        hint: 'Keep session state inside a transaction (SET LOCAL, pg_advisory_xact_lock, ON COMMIT DROP), or raise transactions.maxOpenShare.',
      }),
    )
    this.releaseNext = true
  }

  private afterReady(status: string): void {
    const lease = this.lease
    if (!lease) return
    if (this.stall === 'cycle' || this.stall === 'end') this.stall = undefined
    if (status === 'I') {
      clearTimeout(this.transactionTimer)
      this.transactionTimer = undefined
    } else {
      this.transactionTimer ??= setTimeout(
        () => this.expire('transaction timeout', '25P04'),
        lease.tenant.config.transactions.maxTimeoutMs,
      )
    }
    const quiet = !lease.relay.busy && this.client.peek() === undefined
    if (status === 'I' && this.pipelinedReset) this.release(true)
    else if (status === 'I' && !lease.relay.busy && (this.releaseNext || (quiet && !this.pinned)))
      this.release()
    else if (status !== 'I' && quiet) {
      clearTimeout(this.idleTimer)
      this.idleTimer = setTimeout(
        () => this.expire('idle-in-transaction timeout', '25P03'),
        lease.tenant.config.transactions.maxIdleTimeoutMs,
      )
    }
    if (this.draining && this.atRest()) return this.terminate(SHUTTING_DOWN)
    this.pump()
  }

  /**
   * A client that stops between a cycle's first message and its Sync, with no answer
   * outstanding, still holds its backend and a transaction open, and no ReadyForQuery came
   * to start the idle and transaction timers (PostgreSQL starts none either): they start now.
   */
  private timeQuietCycle(): void {
    const lease = this.lease
    if (!this.cycleOpen || !lease || lease.relay.busy || this.client.peek() !== undefined) return
    const { transactions } = lease.tenant.config
    this.transactionTimer ??= setTimeout(
      () => this.expire('transaction timeout', '25P04'),
      transactions.maxTimeoutMs,
    )
    clearTimeout(this.idleTimer)
    this.idleTimer = setTimeout(
      () => this.expire('idle-in-transaction timeout', '25P03'),
      transactions.maxIdleTimeoutMs,
    )
  }

  private expire(what: string, code: string): void {
    this.terminate({ severity: 'FATAL', code, message: `terminating connection due to ${what}` })
  }

  /** Idle between transactions (a pinned session included), nothing outstanding. */
  private atRest(): boolean {
    const relay = this.lease?.relay
    return !relay || (!relay.busy && relay.status === 'I' && this.stall === undefined)
  }

  private borrow(): void {
    this.stall = 'lease'
    void Lease.borrow({
      deps: this.server.deps,
      token: this.init.token,
      signal: this.signal,
      holder: `wire session ${this.processId}`,
      requestId: `pg-${this.processId}-${this.transactions + 1}`,
      sink: this,
    }).then(
      (borrowed) => this.guarded(() => this.leased(borrowed.lease, borrowed.principal)),
      (error: unknown) => this.guarded(() => this.refuseWithoutBackend(error)),
    )
  }

  /** Runs `step`; a throw is a bug of ours: reported, and the session ends with it. */
  private guarded(step: () => void): void {
    try {
      step()
    } catch (error) {
      this.server.deps.reportBug(error, undefined)
      this.terminate(errorFieldsOf(error))
    }
  }

  /** A backend was lent for the message that waits: the session takes it and goes on. */
  private leased(lease: Lease, principal: Principal): void {
    this.transactions++
    if (this.closed) return lease.release(this.leaseEnd())
    this.tenantName = lease.tenant.name
    this.readOnly = principal.role === 'readonly'
    this.lease = lease
    this.written = lease.tenant.cache && !this.readOnly ? new WrittenStatements() : undefined
    if (this.client.isFull) lease.relay.pause(true)
    const { settings } = this.init.client
    if (settings.size === 0) return this.resumeLeased()
    void lease.relay.query(applySettingsSql(settings)).then((result) =>
      this.guarded(() => {
        if (result.error || result.status !== 'I') {
          return this.terminate({
            severity: 'FATAL',
            code: result.error?.get('C') ?? '08006',
            message: result.error?.get('M') ?? 'the connection to the database was lost',
          })
        }
        this.resumeLeased()
      }),
    )
  }

  private resumeLeased(): void {
    if (this.closed || this.stall !== 'lease') return
    this.resume()
  }

  /** No backend for this message: the client gets the error, and the session goes on. */
  private refuseWithoutBackend(error: unknown): void {
    const fields = errorFieldsOf(error)
    if (this.closed) return
    if (fields.severity === 'FATAL') return this.terminate(fields)
    const next = this.client.peek()
    this.stall = undefined
    this.toClient(errorResponse(fields))
    if (next) {
      this.client.consume()
      // A Query or FunctionCall ends with ReadyForQuery; extended-protocol messages at Sync.
      if (next.type === M.query || next.type === M.functionCall) this.toClient(readyForQuery('I'))
      else this.skippingClient = true
    }
    this.pump()
  }

  /**
   * Returns the backend to the pool, which resets its session; `atReady`: the client's
   * transaction is over and the reset sent behind it (if any) is still to answer.
   */
  private release(atReady = false): void {
    const lease = this.lease
    if (!lease) return
    this.lease = undefined
    if (lease.relay.busy) this.invalidateWhenGone(lease)
    const reset = this.pipelinedReset
    this.pipelinedReset = undefined
    this.cyclesInFlight = 0
    clearTimeout(this.idleTimer)
    clearTimeout(this.transactionTimer)
    this.transactionTimer = undefined
    // The pool's reset takes away whatever the session holds (the client's startup settings too).
    if (reset && atReady) lease.releaseAfterReset(reset, this.leaseEnd())
    else lease.release(this.leaseEnd())
    if (this.pinned) this.server.unpin(lease.tenant.name)
    this.pinned = false
    this.releaseNext = false
    this.flagged = false
    this.written = undefined
    this.clientOpened = false
    this.cycleOpen = false
    this.cycleEnded = false
    this.endingPortals.clear()
    if (this.stall !== 'lease') this.stall = undefined
  }

  private leaseEnd(): LeaseEnd {
    const path = this.transport === 'tcp' ? 'tcp' : '/v2'
    return { route: `pg-${this.transport}`, path }
  }

  private reportCycle(lease: Lease): void {
    const cycle = this.cycle
    this.cycle = undefined
    if (!cycle || cycle.sql === '') return
    lease.record.scope.statement({
      tenant: lease.tenant.name,
      sql: cycle.sql,
      params: undefined,
      ms: performance.now() - cycle.started,
      ...(cycle.error === undefined ? { rowCount: cycle.rows } : { error: cycle.error }),
    })
  }

  private cancelBackend(relay: Relay): void {
    const { connection } = relay
    const request = relay.oldest
    if (!connection.cancelled) void connection.cancel()
    // Should PostgreSQL not answer that request, the socket is destroyed and the session
    // learns it is lost. Not a polite close: PostgreSQL reads no Terminate while it runs a
    // statement or is blocked writing to a client that stopped reading (nor does it act on
    // the cancel then). The session's later requests, on a backend it keeps, are not timed.
    setTimeout(() => {
      if (request !== undefined && relay.oldest === request) connection.discard()
    }, CANCEL_GRACE_MS).unref()
  }

  private protocolViolation(error: unknown): void {
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
  private terminate(fields: ErrorFields): void {
    if (this.closed) return
    this.toClient(errorResponse({ ...fields, severity: 'FATAL' }))
    this.flush()
    this.finish(fields.message)
  }

  private finish(reason: string): void {
    if (this.closed) return
    this.closed = true
    this.signal.abort()
    clearTimeout(this.idleTimer)
    clearTimeout(this.transactionTimer)
    this.release()
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

const SHUTTING_DOWN: ErrorFields = {
  severity: 'FATAL',
  code: '57P01',
  message: 'the gateway is shutting down: reconnect to another instance',
}

function fieldsOf(fields: Map<string, string>): ErrorFields {
  return {
    severity: 'ERROR',
    code: fields.get('C') ?? 'XX000',
    message: fields.get('M') ?? 'error',
  }
}
