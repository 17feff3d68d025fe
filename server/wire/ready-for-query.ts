/**
 * The ReadyForQuery that ends a client's cycle, and what follows it before the client hears
 * it: the gateway's READ ONLY transaction ended, what a write changed dropped from every
 * cache (./cache-writes.ts), the session-state probe that may pin the session to its
 * backend (./session-state.ts); then the transaction's timers, and the backend's return to
 * the pool once the client's transaction is over (./session-backend.ts).
 */
import type { Lease } from './lease.js'
import { invalidate } from './cache-writes.js'
import { pump, reportCycle } from './client-cycle.js'
import { errorResponse, readyForQuery, type ErrorFields } from './messages.js'
import { release } from './session-backend.js'
import { SHUTTING_DOWN, type WireSession } from './session.js'
import { sessionStateKinds, sessionStateSql } from './session-state.js'

/** The ReadyForQuery that ends a cycle of the client's: a readonly transaction is ended first. */
export function ready(session: WireSession, status: string, raw: Buffer): void {
  session.cyclesInFlight--
  const lease = session.lease
  if (!lease) return
  if (session.pipelinedReset && status !== 'I') {
    // The reset ran inside the client's transaction: mayTakeReset was wrong. Never reached
    // by design; should it be, the client must not go on in a transaction the reset changed.
    session.server.deps.reportBug(
      new Error(`a session reset was sent behind a cycle that left status ${status}`),
      undefined,
    )
    return session.terminate({
      severity: 'FATAL',
      code: 'XX000',
      message: 'internal error: the session was reset inside its transaction',
    })
  }
  if (session.readOnly && status !== 'I' && !session.clientOpened) {
    // The client's statements ran inside the gateway's READ ONLY transaction: end it.
    session.stall = 'end'
    void lease.relay.query(status === 'T' ? 'COMMIT' : 'ROLLBACK').then((result) => {
      if (result.status === '') return
      if (result.error) session.toClient(errorResponse(fieldsOf(result.error)))
      settle(session, 'I', undefined)
    })
    return
  }
  if (status === 'I') session.clientOpened = false
  settle(session, status, raw)
}

/** The client's cycle is over: probe for session state if needed, answer, maybe release. */
function settle(session: WireSession, status: string, raw: Buffer | undefined): void {
  const lease = session.lease
  if (!lease) return
  // The transaction is over, and its portals with it.
  if (status === 'I') session.endingPortals.clear()
  if (status === 'I' && invalidate(session, lease, () => settle(session, status, raw))) return
  reportCycle(session, lease)
  if (status === 'I' && session.flagged && !session.pinned && !lease.relay.busy) {
    session.stall = 'end'
    void lease.relay.query(sessionStateSql(session.init.client.settings.keys())).then((result) => {
      if (result.status === '') return
      const kinds = result.error ? ['unknown'] : sessionStateKinds(result.rows)
      session.flagged = false
      if (kinds.length > 0) pin(session, lease, kinds)
      session.toClient(raw ?? readyForQuery('I'))
      afterReady(session, 'I')
    })
    return
  }
  session.toClient(raw ?? readyForQuery(status))
  afterReady(session, status)
}

function pin(session: WireSession, lease: Lease, kinds: string[]): void {
  const { logger } = session.server.deps
  if (session.server.tryPin(lease.tenant)) {
    session.pinned = true
    logger.info(
      { session: session.processId, tenant: lease.tenant.name, state: kinds.join(', ') },
      'wire session pinned to its backend',
    )
    return
  }
  // The state goes with the reset the connection gets on release.
  session.flagged = true
  lease.code = 'TX_LIMIT_REACHED'
  session.toClient(
    errorResponse({
      severity: 'ERROR',
      code: '53400',
      message: `this session left ${kinds.join(', ')} behind, which needs a backend of its own, and tenant ${lease.tenant.name} already has its maximum of pinned sessions: the session state was reset`,
      hint: 'Keep session state inside a transaction (SET LOCAL, pg_advisory_xact_lock, ON COMMIT DROP), or raise transactions.maxOpenShare.',
    }),
  )
  session.releaseNext = true
}

function afterReady(session: WireSession, status: string): void {
  const lease = session.lease
  if (!lease) return
  if (session.stall === 'cycle' || session.stall === 'end') session.stall = undefined
  if (status === 'I') {
    clearTimeout(session.transactionTimer)
    session.transactionTimer = undefined
  } else {
    session.transactionTimer ??= setTimeout(
      () => expire(session, 'transaction timeout', '25P04'),
      lease.tenant.config.transactions.maxTimeoutMs,
    )
  }
  const quiet = !lease.relay.busy && session.client.peek() === undefined
  if (status === 'I' && session.pipelinedReset) release(session, true)
  else if (
    status === 'I' &&
    !lease.relay.busy &&
    (session.releaseNext || (quiet && !session.pinned))
  )
    release(session)
  else if (status !== 'I' && quiet) {
    clearTimeout(session.idleTimer)
    session.idleTimer = setTimeout(
      () => expire(session, 'idle-in-transaction timeout', '25P03'),
      lease.tenant.config.transactions.maxIdleTimeoutMs,
    )
  }
  if (session.draining && session.atRest()) return session.terminate(SHUTTING_DOWN)
  pump(session)
}

/**
 * A client that stops between a cycle's first message and its Sync, with no answer
 * outstanding, still holds its backend and a transaction open, and no ReadyForQuery came
 * to start the idle and transaction timers (PostgreSQL starts none either): they start now.
 */
export function timeQuietCycle(session: WireSession): void {
  const lease = session.lease
  if (!session.cycleOpen || !lease || lease.relay.busy || session.client.peek() !== undefined)
    return
  const { transactions } = lease.tenant.config
  session.transactionTimer ??= setTimeout(
    () => expire(session, 'transaction timeout', '25P04'),
    transactions.maxTimeoutMs,
  )
  clearTimeout(session.idleTimer)
  session.idleTimer = setTimeout(
    () => expire(session, 'idle-in-transaction timeout', '25P03'),
    transactions.maxIdleTimeoutMs,
  )
}

function expire(session: WireSession, what: string, code: string): void {
  session.terminate({ severity: 'FATAL', code, message: `terminating connection due to ${what}` })
}

function fieldsOf(fields: Map<string, string>): ErrorFields {
  return {
    severity: 'ERROR',
    code: fields.get('C') ?? 'XX000',
    message: fields.get('M') ?? 'error',
  }
}
