/**
 * Deadlines, client aborts and the end of a drain, for work on a borrowed connection. When one fires, the
 * running statement is cancelled in PostgreSQL with a real CancelRequest, the work settles
 * with PostgreSQL's answer, and the connection is discarded (a late cancel must never hit
 * the next request). Should PostgreSQL not answer the cancel, the socket is closed.
 */
import { SluiceError } from '../../src/errors.js'
import type { AbortLike } from '../lifecycle/abort.js'
import type { Connection } from '../pool/connection.js'
import { shuttingDown } from '../errors.js'
import { toSluiceError } from './db-error.js'

/** How long to wait for PostgreSQL to honour a cancel before closing the socket. */
const CANCEL_GRACE_MS = 5_000

/** What can cut a statement short besides its deadline. */
export interface CancelSignals {
  /** Aborts when the client goes away. */
  signal?: AbortLike | undefined
  /** Aborts when the gateway's drain ends: the statement ends as SHUTTING_DOWN. */
  shutdown?: AbortLike | undefined
}

/**
 * Whether the deadline passed. Work of several statements checks it before each one: a
 * cancel that reaches PostgreSQL between two statements cancels nothing, and the next one
 * would run past the deadline.
 */
export interface Deadline {
  readonly passed: boolean
}

/** STATEMENT_TIMEOUT for work stopped at its deadline before a statement began. */
export function deadlinePassed(): SluiceError {
  return new SluiceError('STATEMENT_TIMEOUT', 'canceling statement due to statement timeout')
}

/**
 * What a statement the drain's end cut off answers, from how it failed: SHUTTING_DOWN, and
 * retryable only when nothing ran. A cancel PostgreSQL answered (or any error it reported)
 * rolled the statement back; but when the connection was lost instead (the cancel lost on
 * its way, the socket closed after the grace), PostgreSQL may have run and committed it
 * while its answer was on the way, so a retry could write twice.
 */
export function cutOff(failure: SluiceError): SluiceError {
  // Its row or byte limit closed the connection under it: that is what happened, and a write
  // with RETURNING may have committed first (docs/protocol.md), so it is no drain's answer.
  if (failure.code === 'RESULT_TOO_LARGE') return failure
  const mayHaveRun = failure.code === 'DB_UNAVAILABLE' && !failure.retryable
  if (!mayHaveRun) return shuttingDown()
  const { statementIndex } = failure.fields
  return new SluiceError(
    'SHUTTING_DOWN',
    'the gateway is shutting down and cut the statement off, but its connection to the database was lost first, so it may have run: check before running it again',
    { retryable: false, ...(statementIndex === undefined ? {} : { statementIndex }) },
  )
}

/**
 * Runs `work`, cancelling it after `timeoutMs`, when the client goes away or when the
 * gateway stops; its error then says which (STATEMENT_TIMEOUT, SHUTTING_DOWN; a client that
 * left is CLIENT_CLOSED, which the HTTP side decides).
 */
export async function withCancellation<T>(
  connection: Connection,
  timeoutMs: number,
  signals: CancelSignals,
  work: (deadline: Deadline) => Promise<T>,
): Promise<T> {
  const deadline = { passed: false }
  let stopped = false
  let fallback: ReturnType<typeof setTimeout> | undefined
  const cancel = () => {
    if (connection.cancelled) return
    void connection.cancel()
    fallback = setTimeout(() => void connection.close(), CANCEL_GRACE_MS)
  }
  const stop = () => {
    stopped = true
    cancel()
  }
  const timer = setTimeout(() => {
    deadline.passed = true
    cancel()
  }, timeoutMs)
  const { signal, shutdown } = signals
  signal?.addEventListener('abort', cancel)
  shutdown?.addEventListener('abort', stop)
  try {
    if (signal?.aborted) cancel()
    if (shutdown?.aborted) stop()
    return await work(deadline)
  } catch (error) {
    if (stopped) throw cutOff(toSluiceError(error))
    throw toSluiceError(error, { timedOut: deadline.passed })
  } finally {
    clearTimeout(timer)
    clearTimeout(fallback)
    signal?.removeEventListener('abort', cancel)
    shutdown?.removeEventListener('abort', stop)
  }
}
