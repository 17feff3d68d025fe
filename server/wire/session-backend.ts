/**
 * A wire session's backend: borrowed for the message that needs one (./lease.ts, through
 * the gateway's one way in), set up with the client's startup settings, and given back to
 * the pool, which resets its session, once the client's transaction is over. A refusal
 * (no backend in time, a tenant paused) reaches the client as an error and the session
 * goes on.
 */
import { WrittenStatements } from '../engine/written-statements.js'
import type { Principal } from '../tenants/tokens.js'
import { invalidateWhenGone } from './cache-writes.js'
import { pump, resume } from './client-cycle.js'
import { errorFieldsOf } from './errors.js'
import { Lease, type LeaseEnd } from './lease.js'
import { FRONTEND as M } from './message-types.js'
import { errorResponse, readyForQuery } from './messages.js'
import type { WireSession } from './session.js'
import { applySettingsSql } from './startup.js'

/** Borrows a backend for the message that waits (admitted through ./lease.ts). */
export function borrow(session: WireSession): void {
  session.stall = 'lease'
  void Lease.borrow({
    deps: session.server.deps,
    token: session.init.token,
    signal: session.signal,
    holder: `wire session ${session.processId}`,
    requestId: `pg-${session.processId}-${session.transactions + 1}`,
    sink: session,
  }).then(
    (borrowed) => guarded(session, () => leased(session, borrowed.lease, borrowed.principal)),
    (error: unknown) => guarded(session, () => refuseWithoutBackend(session, error)),
  )
}

/** Runs `step`; a throw is a bug of ours: reported, and the session ends with it. */
function guarded(session: WireSession, step: () => void): void {
  try {
    step()
  } catch (error) {
    session.server.deps.reportBug(error, undefined)
    session.terminate(errorFieldsOf(error))
  }
}

/** A backend was lent for the message that waits: the session takes it and goes on. */
function leased(session: WireSession, lease: Lease, principal: Principal): void {
  session.transactions++
  if (session.closed) return lease.release(leaseEnd(session))
  session.tenantName = lease.tenant.name
  session.readOnly = principal.role === 'readonly'
  session.lease = lease
  session.written = lease.tenant.cache && !session.readOnly ? new WrittenStatements() : undefined
  if (session.client.isFull) lease.relay.pause(true)
  const { settings } = session.init.client
  if (settings.size === 0) return resumeLeased(session)
  void lease.relay.query(applySettingsSql(settings)).then((result) =>
    guarded(session, () => {
      if (result.error || result.status !== 'I') {
        return session.terminate({
          severity: 'FATAL',
          code: result.error?.get('C') ?? '08006',
          message: result.error?.get('M') ?? 'the connection to the database was lost',
        })
      }
      resumeLeased(session)
    }),
  )
}

function resumeLeased(session: WireSession): void {
  if (session.closed || session.stall !== 'lease') return
  resume(session)
}

/** No backend for this message: the client gets the error, and the session goes on. */
function refuseWithoutBackend(session: WireSession, error: unknown): void {
  const fields = errorFieldsOf(error)
  if (session.closed) return
  if (fields.severity === 'FATAL') return session.terminate(fields)
  const next = session.client.peek()
  session.stall = undefined
  session.toClient(errorResponse(fields))
  if (next) {
    session.client.consume()
    // A Query or FunctionCall ends with ReadyForQuery; extended-protocol messages at Sync.
    if (next.type === M.query || next.type === M.functionCall) session.toClient(readyForQuery('I'))
    else session.skippingClient = true
  }
  pump(session)
}

/**
 * Returns the backend to the pool, which resets its session; `atReady`: the client's
 * transaction is over and the reset sent behind it (if any) is still to answer.
 */
export function release(session: WireSession, atReady = false): void {
  const lease = session.lease
  if (!lease) return
  session.lease = undefined
  if (lease.relay.busy) invalidateWhenGone(session, lease)
  const reset = session.pipelinedReset
  session.pipelinedReset = undefined
  session.cyclesInFlight = 0
  clearTimeout(session.idleTimer)
  clearTimeout(session.transactionTimer)
  session.transactionTimer = undefined
  // The pool's reset takes away whatever the session holds (the client's startup settings too).
  if (reset && atReady) lease.releaseAfterReset(reset, leaseEnd(session))
  else lease.release(leaseEnd(session))
  if (session.pinned) session.server.unpin(lease.tenant.name)
  session.pinned = false
  session.releaseNext = false
  session.flagged = false
  session.written = undefined
  session.clientOpened = false
  session.cycleOpen = false
  session.cycleEnded = false
  session.endingPortals.clear()
  if (session.stall !== 'lease') session.stall = undefined
}

function leaseEnd(session: WireSession): LeaseEnd {
  const path = session.transport === 'tcp' ? 'tcp' : '/v2'
  return { route: `pg-${session.transport}`, path }
}
