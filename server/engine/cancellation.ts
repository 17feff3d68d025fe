/**
 * Deadlines and client aborts for work on a borrowed connection. When either fires, the
 * running statement is cancelled in PostgreSQL with a real CancelRequest, the work settles
 * with PostgreSQL's answer, and the connection is discarded (a late cancel must never hit
 * the next request). Should PostgreSQL not answer the cancel, the socket is closed.
 */
import type { AbortLike } from '../lifecycle/abort.js'
import type { Connection } from '../pool/connection.js'
import { toSluiceError } from './db-error.js'

/** How long to wait for PostgreSQL to honour a cancel before closing the socket. */
const CANCEL_GRACE_MS = 5_000

/** Runs `work`, cancelling it after `timeoutMs` or when `signal` aborts. */
export async function withCancellation<T>(
  connection: Connection,
  timeoutMs: number,
  signal: AbortLike | undefined,
  work: () => Promise<T>,
): Promise<T> {
  let timedOut = false
  let fallback: ReturnType<typeof setTimeout> | undefined
  const cancel = () => {
    if (connection.cancelled) return
    void connection.cancel()
    fallback = setTimeout(() => void connection.close(), CANCEL_GRACE_MS)
  }
  const timer = setTimeout(() => {
    timedOut = true
    cancel()
  }, timeoutMs)
  signal?.addEventListener('abort', cancel)
  try {
    if (signal?.aborted) cancel()
    return await work()
  } catch (error) {
    throw toSluiceError(error, { timedOut })
  } finally {
    clearTimeout(timer)
    clearTimeout(fallback)
    signal?.removeEventListener('abort', cancel)
  }
}
