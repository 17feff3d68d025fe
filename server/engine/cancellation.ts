/**
 * Deadlines and client aborts for work on a borrowed connection. When either fires, the
 * running statement is cancelled in PostgreSQL with a real CancelRequest, the work settles
 * with PostgreSQL's answer, and the connection is discarded (a late cancel must never hit
 * the next request). Should PostgreSQL not answer the cancel, the socket is closed.
 */
import { SluiceError } from '../../src/errors.js'
import type { AbortLike } from '../lifecycle/abort.js'
import type { Connection } from '../pool/connection.js'
import { toSluiceError } from './db-error.js'

/** How long to wait for PostgreSQL to honour a cancel before closing the socket. */
const CANCEL_GRACE_MS = 5_000

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

/** Runs `work`, cancelling it after `timeoutMs` or when `signal` aborts. */
export async function withCancellation<T>(
  connection: Connection,
  timeoutMs: number,
  signal: AbortLike | undefined,
  work: (deadline: Deadline) => Promise<T>,
): Promise<T> {
  const deadline = { passed: false }
  let fallback: ReturnType<typeof setTimeout> | undefined
  const cancel = () => {
    if (connection.cancelled) return
    void connection.cancel()
    fallback = setTimeout(() => void connection.close(), CANCEL_GRACE_MS)
  }
  const timer = setTimeout(() => {
    deadline.passed = true
    cancel()
  }, timeoutMs)
  signal?.addEventListener('abort', cancel)
  try {
    if (signal?.aborted) cancel()
    return await work(deadline)
  } catch (error) {
    throw toSluiceError(error, { timedOut: deadline.passed })
  } finally {
    clearTimeout(timer)
    clearTimeout(fallback)
    signal?.removeEventListener('abort', cancel)
  }
}
