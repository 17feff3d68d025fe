/**
 * One client transaction's backend: admitted through the gateway's one way in
 * (server/tenants/admission.ts, whose work lasts until the backend goes back, so a drain or
 * a reload waits for it), borrowed from the tenant's pool, relayed (./relay.ts), and
 * returned through the pool's release path, which resets every session.
 * Each lease is one request in the logs and metrics.
 */
import type { AbortLike } from '../lifecycle/abort.js'
import type { RequestRecord } from '../log/request-recorder.js'
import type { Ticket } from '../lifecycle/in-flight.js'
import { enter } from '../tenants/admission.js'
import type { Tenant } from '../tenants/tenant.js'
import type { Principal } from '../tenants/tokens.js'
import { dataRowValues } from './messages.js'
import type { HiddenAnswer } from './hidden-answer.js'
import { Relay } from './relay.js'
import type { RelaySink } from './relay-sink.js'
import type { WireDeps } from './server.js'

/** What borrowing needs. */
export interface BorrowOptions {
  deps: WireDeps
  token: string
  /** Aborts the wait for a connection when the client goes away. */
  signal: AbortLike
  /** Who holds the connection, for the pool's hold-time warnings. */
  holder: string
  /** The request id of the transaction's log line. */
  requestId: string
  sink: RelaySink
}

/** How a lease ends, for its log line and metrics. */
export interface LeaseEnd {
  route: string
  path: string
}

/** One borrowed backend, from acquire to release. */
export class Lease {
  readonly tenant: Tenant
  readonly relay: Relay
  readonly record: RequestRecord
  /** The first error code of the transaction, for its log line and metrics ('' = none). */
  code = ''
  /** Counts the transaction in flight (admission) until the backend goes back. */
  private readonly ticket: Ticket
  private released = false

  private constructor(tenant: Tenant, relay: Relay, record: RequestRecord, ticket: Ticket) {
    this.tenant = tenant
    this.relay = relay
    this.record = record
    this.ticket = ticket
  }

  /**
   * Admits a transaction of `token` and borrows a connection for it. Rejects with what
   * admission or the pool threw (SHUTTING_DOWN, UNAUTHORIZED, POOL_TIMEOUT…).
   */
  static async borrow(options: BorrowOptions): Promise<{ lease: Lease; principal: Principal }> {
    const { tenant, principal, ticket } = enter(options.deps.admission, { token: options.token })
    try {
      const connection = await tenant.pool.acquire(options.signal, options.holder)
      const relay = new Relay(connection, options.sink, tenant.config.statementTimeoutMs + 1_000)
      const record = options.deps.recorder.start(options.requestId)
      return { lease: new Lease(tenant, relay, record, ticket), principal }
    } catch (error) {
      ticket.end()
      throw error
    }
  }

  /**
   * Returns the connection once the session reset the session sent behind its client's last
   * Sync has answered: the pool then takes that answer instead of sending its own reset (one
   * write and one wake-up of PostgreSQL fewer per transaction). A reset that fails leaves the
   * pool's release to reset the connection; one that gets no answer within the connect
   * timeout (as the pool's own reset) gets it discarded.
   */
  releaseAfterReset(reset: HiddenAnswer, end: LeaseEnd): void {
    const { relay } = this
    relay.mute(() => this.release(end), this.tenant.config.connection.connectTimeoutMs)
    reset.take((result) => {
      if (result.status === 'I' && result.error === undefined) {
        relay.connection.resetSentWithLastStatement({ rows: result.rows.map(dataRowValues) })
      }
      this.release(end)
    })
  }

  /** Returns the connection to the pool; discarded when answers were still due. */
  release(end: LeaseEnd): void {
    if (this.released) return
    this.released = true
    const { relay, tenant } = this
    const connection = relay.connection
    const clean = relay.detach()
    // Answers were still due: PostgreSQL may be running a statement nobody waits for.
    if (!clean && !connection.broken) void connection.cancel()
    tenant.pool.release(connection, clean ? {} : { discard: true })
    this.record.finish({
      method: 'PG',
      route: end.route,
      path: end.path,
      status: this.code === '' ? 200 : this.code === 'DATABASE_ERROR' ? 400 : 500,
      code: this.code,
      tenant: tenant.name,
    })
    this.ticket.end()
  }
}
