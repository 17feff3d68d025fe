/**
 * Returning a session clean, after every borrow, whatever its statements did. Sluice does
 * not guess from SQL text what a statement changed (a function can call `set_config` or
 * take an advisory lock where no scanner sees it): every connection goes back to the pool
 * through the same reset, which puts back everything a session can carry over, as
 * DISCARD ALL does, but keeps the gateway's own protocol-level prepared statements:
 *
 * - `ROLLBACK` first when the connection is still inside a transaction;
 * - `CLOSE ALL` (cursors, `WITH HOLD` ones too), `SET SESSION AUTHORIZATION DEFAULT` and
 *   `RESET ALL` (every setting, by `SET` or `set_config`, and the role, back to what the
 *   connection started with: TimeZone, application_name and the timeouts are startup
 *   options, so they come back), `UNLISTEN *`, `pg_advisory_unlock_all()`, `DISCARD TEMP`
 *   (temp tables, pg_temp functions), `DISCARD SEQUENCES` (currval);
 * - and a count of SQL-level prepared statements (`PREPARE`, also from inside a function):
 *   any, and the session is reset with `DISCARD ALL`, dropping ours too. A statement
 *   prepared from SQL could otherwise take the name of one of ours and run in place of a
 *   later request's statement. Ours are counted too: fewer than the gateway believes (a
 *   function may `DEALLOCATE` one) and they go the same way, or a later client's statement
 *   would fail on this connection for as long as it lives.
 *
 * That is for a connection on which the gateway holds named statements. On one where it
 * holds none (the usual case: `/v1/query` prepares only with `pool.prepareThreshold` set, wire
 * clients only with named statements) the reset is `DISCARD ALL` alone, which does all of
 * the above and deallocates every prepared statement, none of them ours: one statement,
 * where the count of prepared statements alone cost PostgreSQL about as much as a `SELECT 1`
 * (bench/NOTES.md section 13).
 *
 * It is one round trip of one simple query, sent when the borrower releases the connection
 * (after its answer is ready), so it adds nothing to the answer's latency; a `/v1/query`
 * statement, the only one of its borrow, takes it along in its own write instead, after its
 * Sync (one write and one backend wake-up fewer), and so does a wire transaction whose last
 * Sync cannot leave it open (server/wire/client-cycle.ts, `mayTakeReset`). The connection is lent again only once
 * the reset completes. The statements are unnamed, so nothing a session left
 * behind can stand in for them.
 */
import type { Connection, ResetOutcome } from './connection.js'

/**
 * The reset, one simple query; its last row counts the prepared statements made from SQL,
 * then the others (the gateway's, on the protocol level). Names are qualified: `RESET ALL`
 * brings back the role's own `search_path`, which a role may set for itself to put a
 * schema of its own before pg_catalog.
 */
export const RESET_SQL = [
  'CLOSE ALL',
  'SET SESSION AUTHORIZATION DEFAULT',
  'RESET ALL',
  'UNLISTEN *',
  'SELECT pg_catalog.pg_advisory_unlock_all()',
  'DISCARD TEMP',
  'DISCARD SEQUENCES',
  'SELECT pg_catalog.count(*) FILTER (WHERE from_sql), pg_catalog.count(*) FILTER (WHERE NOT from_sql) FROM pg_catalog.pg_prepared_statements',
].join('; ')

/** The reset for `connection` now: DISCARD ALL when the gateway holds no named statement on it. */
export function resetSqlFor(connection: Connection): string {
  return connection.prepared.empty ? 'DISCARD ALL' : RESET_SQL
}

/** Resets a session; rejects if the connection cannot be made clean (then discard it). */
export async function resetSession(connection: Connection): Promise<void> {
  // A `/v1/query` statement took the reset along in its own write
  // (Connection.runPrepared): its answer is all that is left to wait for, unless the
  // statement left a transaction open or the reset failed; then the full reset runs.
  const pipelined = connection.takePipelinedReset()
  if (pipelined) {
    const outcome = await pipelined.catch(() => undefined)
    if (outcome && connection.transactionStatus === 'I') return discardPrepared(connection, outcome)
  }
  // Wait for PostgreSQL's ReadyForQuery after a failed statement, so the status is current.
  if (connection.transactionStatus !== 'I') await connection.simple('ROLLBACK')
  const text = resetSqlFor(connection)
  await discardPrepared(connection, await connection.run({ text, simple: true }))
  if (connection.transactionStatus !== 'I')
    throw new Error('session still inside a transaction after reset')
}

/**
 * True when the reset that went out with the last statement has answered already and left
 * nothing to do (the wire protocol's reset, behind its client's last Sync): the pool's
 * release then hands the connection back at once, with no promise or timer. The answer is
 * taken. False leaves everything to {@link resetSession}.
 */
export function resetAnswered(connection: Connection): boolean {
  const outcome = connection.resetAnswer
  if (!outcome || connection.transactionStatus !== 'I' || mustDiscard(connection, outcome))
    return false
  connection.takePipelinedReset()
  return true
}

/**
 * True when the long reset found a statement prepared from SQL, or not as many of the
 * gateway's as it believes it has: a function may have deallocated one (no CommandComplete
 * tells), and every later client's statement of that text would fail on this connection.
 * DISCARD ALL answers no rows: nothing is left.
 */
function mustDiscard(connection: Connection, outcome: ResetOutcome): boolean {
  const row = outcome.rows.at(-1)
  if (!row) return false
  return Number(row[0]) > 0 || Number(row[1]) !== connection.prepared.count
}

/** What the reset found (see {@link mustDiscard}): DISCARD ALL, and the gateway's forgotten. */
async function discardPrepared(connection: Connection, outcome: ResetOutcome): Promise<void> {
  if (mustDiscard(connection, outcome)) {
    await connection.simple('DISCARD ALL')
    // DISCARD ALL deallocated ours too: parse them again.
    connection.prepared.clear()
  }
}
