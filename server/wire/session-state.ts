/**
 * What a transaction left in its backend's session, asked of PostgreSQL itself. A wire
 * session is pooled per transaction, so state that outlives a transaction (LISTEN, a
 * session SET, a WITH HOLD cursor, a session advisory lock, an SQL PREPARE, a temporary
 * table) would be lost on the next transaction's backend, or leak to the next client of
 * this one. After a transaction whose text may have done that (the lexer of
 * server/engine/analyze.ts flags it), the relay asks; when state is left, the session is
 * pinned to its backend (under a per-tenant cap) and keeps it until it disconnects.
 */
import { dataRowValues } from './messages.js'

/** The probe, with the settings the gateway applied itself left out. */
export function sessionStateSql(appliedSettings: Iterable<string>): string {
  // Names come from server/wire/startup.ts's fixed list: safe to inline. Functions and
  // operators are qualified: a role may put a schema of its own before pg_catalog in its
  // search_path (ALTER ROLE … SET), which the session's RESET ALL brings back.
  const own = [...appliedSettings].map((name) => `'${name}'`)
  const settings =
    own.length > 0 ? ` AND name OPERATOR(pg_catalog.<>) ALL (ARRAY[${own.join(', ')}])` : ''
  return `SELECT pg_catalog.concat_ws(',',
  CASE WHEN EXISTS (SELECT FROM pg_catalog.pg_listening_channels()) THEN 'LISTEN' END,
  CASE WHEN EXISTS (SELECT FROM pg_catalog.pg_settings WHERE source OPERATOR(pg_catalog.=) 'session'${settings}) THEN 'SET' END,
  CASE WHEN EXISTS (SELECT FROM pg_catalog.pg_cursors WHERE is_holdable) THEN 'WITH HOLD cursors' END,
  CASE WHEN EXISTS (SELECT FROM pg_catalog.pg_locks WHERE locktype OPERATOR(pg_catalog.=) 'advisory' AND pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()) THEN 'advisory locks' END,
  CASE WHEN EXISTS (SELECT FROM pg_catalog.pg_prepared_statements WHERE from_sql) THEN 'PREPARE' END,
  CASE WHEN EXISTS (SELECT FROM pg_catalog.pg_class WHERE relnamespace OPERATOR(pg_catalog.=) pg_catalog.pg_my_temp_schema()) THEN 'temporary tables' END)`
}

/** The kinds of state the probe found (empty when the session is clean). */
export function sessionStateKinds(rows: readonly Buffer[]): string[] {
  const row = rows[0]
  if (!row) return []
  const values = dataRowValues(row)
  const kinds = values.length === 1 ? values[0] : undefined
  return kinds ? kinds.split(',') : []
}
