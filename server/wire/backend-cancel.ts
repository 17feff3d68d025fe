/**
 * Cancelling a wire session's backend, with a deadline: PostgreSQL gets a grace period to
 * honour the cancel before the connection is given up.
 */
import type { Relay } from './relay.js'

/** How long PostgreSQL gets to honour a cancel before the socket is closed. */
const CANCEL_GRACE_MS = 5_000

/**
 * Cancels what the backend runs (a client's CancelRequest, or the relay's watchdog), and
 * destroys its socket should PostgreSQL not answer the oldest request in time.
 */
export function cancelBackend(relay: Relay): void {
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
