/**
 * Returning a session clean. A connection whose statements may have changed session state
 * (see ../engine/analyze.ts), or that is still inside a transaction, is rolled back and
 * reset with DISCARD ALL before anyone else gets it. DISCARD ALL drops prepared statements,
 * temp tables, cursors, advisory locks, LISTEN registrations and SET values; the settings the
 * connection started with (TimeZone, application_name) come back, since they were given at
 * connect time.
 */
import type { Connection } from './connection.js'

/** Resets a session; rejects if the connection cannot be made clean (then discard it). */
export async function resetSession(connection: Connection): Promise<void> {
  // Wait for PostgreSQL's ReadyForQuery after a failed statement, so the status is current.
  if (connection.transactionStatus !== 'I') await connection.simple('ROLLBACK')
  await connection.simple('DISCARD ALL')
  // DISCARD ALL deallocated them on the server: parse them again.
  connection.prepared.clear()
  connection.dirty = false
  if (connection.transactionStatus !== 'I')
    throw new Error('session still inside a transaction after reset')
}
