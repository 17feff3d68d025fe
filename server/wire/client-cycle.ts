/**
 * The client's side of a wire session: its messages handled in order, one cycle at a time
 * (the messages up to a Sync, or one Query or FunctionCall), each sent on to the session's
 * backend (./relay.ts) or answered without one. A cycle borrows a backend when it has none
 * (./session-backend.ts); a readonly token's cycle begins READ ONLY first and is held to the
 * readonly rules (./read-only.ts); the ReadyForQuery that ends it goes to
 * ./ready-for-query.ts. These are free functions of the session rather than its methods only
 * so that the session fits in files of one concept each: they allocate nothing the methods
 * did not.
 */
import { analyzeSql, type SqlAnalysis } from '../engine/analyze.js'
import { beginSql } from '../engine/run.js'
import { resetSqlFor } from '../pool/session-reset.js'
import type { Lease } from './lease.js'
import { FRONTEND as M, NEEDS_BACKEND } from './message-types.js'
import {
  BodyReader,
  CLOSE_COMPLETE,
  MalformedMessage,
  errorResponse,
  queryMessage,
  readyForQuery,
  type ErrorFields,
} from './messages.js'
import { UNTIL, type Pending } from './pending.js'
import { AFTER_END_REFUSAL, endsTransaction, readOnlyRefusal } from './read-only.js'
import { bodyOf, rawOf, type WireMessage } from './reader.js'
import { ready } from './ready-for-query.js'
import type { Relay } from './relay.js'
import { borrow } from './session-backend.js'
import type { WireSession } from './session.js'
import type { BindCheck } from './statements.js'

/**
 * Words of a statement that may leave its transaction open after the Sync that ends its cycle
 * (BEGIN, START TRANSACTION, … AND CHAIN) or that talk to the client in a way a query sent
 * behind them would break (COPY). Matched anywhere in the text, comments and strings
 * included: a false match only costs the pipelined reset.
 */
const MAY_OUTLIVE_SYNC = /begin|start|chain|copy/i

/** Handles queued client messages until one must wait. */
export function pump(session: WireSession): void {
  try {
    let next: WireMessage | undefined
    while (!session.closed && session.stall === undefined && (next = session.client.peek())) {
      if (!handle(session, next)) break
      session.client.consume()
    }
  } catch (error) {
    return session.protocolViolation(error)
  }
  // The client's transaction ends at the Sync just sent and it sent nothing after it: the
  // session reset goes in the same write (./lease.ts releaseAfterReset).
  if (session.resetCandidate && session.lease && session.client.peek() === undefined)
    session.pipelinedReset = session.lease.relay.queryLater(
      resetSqlFor(session.lease.relay.connection),
    )
  session.resetCandidate = false
  session.lease?.relay.flushOut()
  session.client.updateReading()
  session.flush()
}

/** The inbox waited for the backend or a gateway query: it goes on. */
export function resume(session: WireSession): void {
  session.stall = undefined
  pump(session)
}

/** Handles one message; false when it must wait (it is handled again later). */
function handle(session: WireSession, m: WireMessage): boolean {
  session.resetCandidate = false
  const type = m.type
  if (type === M.terminate) {
    session.finish('client terminated')
    return true
  }
  if (type === M.sync) return sync(session, m)
  const relay = session.lease?.relay
  // PostgreSQL skips everything up to Sync after an error; so does the session.
  if (session.skippingClient || relay?.skipping) return true
  if (type === M.flush || type === M.copyData || type === M.copyDone || type === M.copyFail) {
    relay?.send(rawOf(m))
    return true
  }
  if (type === M.close && session.statements.close(bodyOf(m))) {
    answer(session, CLOSE_COMPLETE)
    return true
  }
  if (!NEEDS_BACKEND.has(type))
    throw new MalformedMessage(`invalid frontend message type ${String.fromCharCode(type)}`)
  if (!relay) {
    borrow(session)
    return false
  }
  if (!session.cycleOpen && !openCycle(session, relay)) return false
  switch (type) {
    case M.query:
      query(session, relay, m)
      break
    case M.parse:
      session.statements.parse(relay, m)
      break
    case M.bind:
      session.statements.bind(relay, m, session.binding)
      break
    case M.describe:
      session.statements.describe(relay, m)
      break
    case M.execute:
      if (session.readOnly && session.endingPortals.has(new BodyReader(bodyOf(m)).cstring()))
        session.cycleEnded = true
      relay.send(rawOf(m), { until: UNTIL.execute })
      break
    case M.close:
      relay.send(rawOf(m), { until: UNTIL.close })
      break
    default:
      // FunctionCall: answered by FunctionCallResponse and ReadyForQuery.
      session.written?.forget()
      session.cycleMayOutliveSync = true
      if (session.readOnly && session.cycleEnded) refuseCycle(session, relay, AFTER_END_REFUSAL)
      else relay.send(rawOf(m), cycleEnd(session))
      endCycle(session)
  }
  return true
}

function sync(session: WireSession, m: WireMessage): boolean {
  const relay = session.lease?.relay
  session.skippingClient = false
  if (!relay) {
    answer(session, readyForQuery('I'))
    return true
  }
  relay.skipping = false
  relay.send(rawOf(m), cycleEnd(session))
  session.resetCandidate = mayTakeReset(session, relay)
  endCycle(session)
  return true
}

/**
 * True when the cycle just sent is sure to leave the backend idle with nothing of the
 * session's on it, so that the session reset may follow it in the same write: the only
 * cycle in flight, begun idle, none of its statements able to keep a transaction open,
 * and nothing that needs the backend after it (a readonly token's COMMIT, the session-state
 * probe, a cache invalidation, a pinned session).
 */
function mayTakeReset(session: WireSession, relay: Relay): boolean {
  return (
    session.cyclesInFlight === 1 &&
    relay.status === 'I' &&
    !session.cycleMayOutliveSync &&
    !session.readOnly &&
    !session.pinned &&
    !session.flagged &&
    !session.releaseNext &&
    session.written === undefined
  )
}

function answer(session: WireSession, data: Buffer): void {
  const relay = session.lease?.relay
  if (relay) relay.answer(data)
  else session.toClient(data)
}

/** The first message of a cycle (up to Sync): readonly tokens begin READ ONLY first. */
function openCycle(session: WireSession, relay: Relay): boolean {
  session.cycleOpen = true
  session.cycle = { started: performance.now(), sql: '', rows: null, error: undefined }
  if (!session.readOnly || relay.status !== 'I') return true
  session.stall = 'setup'
  void relay.query(beginSql({}, true)).then((result) => {
    if (result.error || result.status !== 'T') {
      return session.terminate({
        severity: 'FATAL',
        code: '08006',
        message: 'the gateway could not begin the READ ONLY transaction',
      })
    }
    resume(session)
  })
  return false
}

function cycleEnd(session: WireSession): Pending {
  session.cyclesInFlight++
  return { until: UNTIL.sync, sync: true, onReady: (status, raw) => ready(session, status, raw) }
}

function endCycle(session: WireSession): void {
  session.cycleMayOutliveSync = false
  session.cycleOpen = false
  session.cycleEnded = false
  // A readonly cycle's end may need a COMMIT before the next one starts.
  if (session.readOnly) session.stall = 'cycle'
}

function note(session: WireSession, text: string, analysis: SqlAnalysis): void {
  if (analysis.sessionWords) session.flagged = true
  if (MAY_OUTLIVE_SYNC.test(text)) session.cycleMayOutliveSync = true
  session.written?.add(text)
  if (session.cycle && session.cycle.sql === '') session.cycle.sql = text
}

function query(session: WireSession, relay: Relay, m: WireMessage): void {
  const text = new BodyReader(bodyOf(m)).cstring()
  const analysis = analyzeSql(text)
  note(session, text, analysis)
  // After a COMMIT bound in this cycle, PostgreSQL would run it in a new, read-write
  // transaction of its own.
  const refusal = !session.readOnly
    ? undefined
    : session.cycleEnded
      ? AFTER_END_REFUSAL
      : readOnlyRefusal(analysis, text)
  if (refusal) refuseCycle(session, relay, refusal)
  else relay.send(rawOf(m), cycleEnd(session))
  session.resetCandidate = mayTakeReset(session, relay)
  endCycle(session)
}

/** Fails a Query or FunctionCall the way PostgreSQL fails one: an error, then ReadyForQuery. */
function refuseCycle(session: WireSession, relay: Relay, refusal: ErrorFields): void {
  relay.send(queryMessage('SLUICE REFUSED'), {
    ...cycleEnd(session),
    replaceError: errorResponse(refusal),
  })
}

/**
 * The session's check of each statement about to be bound (./statements.ts): noted, and
 * held to the readonly rules. Made once per session, not per Bind.
 */
export function bindCheckOf(session: WireSession): BindCheck {
  return (text: string, analysis: SqlAnalysis, portal: string): ErrorFields | undefined => {
    note(session, text, analysis)
    if (!session.readOnly) return undefined
    const refusal = session.cycleEnded ? AFTER_END_REFUSAL : readOnlyRefusal(analysis, text)
    if (!refusal && endsTransaction(analysis)) {
      session.cycleEnded = true
      session.endingPortals.add(portal)
    }
    return refusal
  }
}

/** The cycle just ended goes into the transaction's statement timings (its first SQL text). */
export function reportCycle(session: WireSession, lease: Lease): void {
  const cycle = session.cycle
  session.cycle = undefined
  if (!cycle || cycle.sql === '') return
  lease.record.scope.statement({
    tenant: lease.tenant.name,
    sql: cycle.sql,
    params: undefined,
    ms: performance.now() - cycle.started,
    ...(cycle.error === undefined ? { rowCount: cycle.rows } : { error: cycle.error }),
  })
}
