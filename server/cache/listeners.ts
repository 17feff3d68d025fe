/**
 * The channel's listener connections (./channel.ts) carry their own application_name, so a
 * member that joins can count the others the database has and wait to hear from each.
 */
import type pg from 'pg'

/** The application_name of listener connections (how a joining member counts the others). */
export const LISTENER_APPLICATION_NAME = 'sluice-cache'

/** How many other listener connections the database of `client` has. */
export async function otherListeners(client: pg.Client): Promise<number> {
  // Names are qualified: the role may put a schema of its own before pg_catalog
  // (./catalog-query.ts).
  const { rows } = await client.query<{ n: string }>(
    `select pg_catalog.count(*) as n from pg_catalog.pg_stat_activity
      where datname operator(pg_catalog.=) pg_catalog.current_database()
        and application_name operator(pg_catalog.=) $1
        and pid operator(pg_catalog.<>) pg_catalog.pg_backend_pid()`,
    [LISTENER_APPLICATION_NAME],
  )
  return Number(rows[0]?.n ?? 0)
}
