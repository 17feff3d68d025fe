/**
 * A database restart under load, on a PostgreSQL of this file's own: every backend goes at
 * once. Each request gets a documented code (never a 500 or a hang), the pool refills to
 * `min` once the database is back, and what the pool counts is what PostgreSQL holds.
 */
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  startTemporaryPostgres,
  type TemporaryPostgres,
} from '../../../server/embedded/postgres.js'
import { eventually, listenTestGateway, type ListeningGateway } from '../../helpers/gateway.js'

let server: TemporaryPostgres
let t: ListeningGateway

async function sql<T = any>(text: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: server.url })
  await client.connect()
  try {
    return (await client.query(text, params)).rows as T[]
  } finally {
    await client.end()
  }
}

const pool = () => t.gateway.tenants.get('main')!.pool
const held = async () =>
  (
    await sql<{ n: number }>(
      'select count(*)::int as n from pg_stat_activity where application_name = $1',
      [t.applicationName],
    )
  )[0]!.n

async function query(text: string) {
  const res = await fetch(`${t.url}/v1/query`, {
    method: 'POST',
    headers: { authorization: `Bearer ${t.token}` },
    body: JSON.stringify({ sql: text }),
  })
  return { status: res.status, body: (await res.json()) as any }
}

beforeAll(async () => {
  server = await startTemporaryPostgres({ prefix: 'sluice-pool-restart-' })
  t = await listenTestGateway({
    connection: { url: server.url },
    pool: { min: 3, max: 5, acquireTimeoutMs: 3000, healthCheckAfterIdleMs: 0 },
  })
}, 120_000)

afterAll(async () => {
  await t?.close()
  await server?.stop()
})

describe('the pool across a database restart under load', () => {
  it('answers every request with a documented code, refills to min, and counts what PostgreSQL holds', async () => {
    await eventually(async () => pool().stats().poolSize === 3 && (await held()) === 3)
    let loading = true
    const answers: { status: number; code: string | undefined }[] = []
    const workers = Array.from({ length: 8 }, async () => {
      while (loading) {
        const a = await query('select pg_sleep(0.02)')
        answers.push({ status: a.status, code: a.body.error?.code })
      }
    })
    await eventually(() => answers.length > 20)
    await server.restart()
    const after = answers.length
    await eventually(() => answers.length > after + 20 && answers.at(-1)!.status === 200, 30_000)
    loading = false
    await Promise.all(workers)
    // Statements cut by the restart, and requests that found the database down, say so;
    // nothing else (no 500, no hang: each request above came back).
    const outcomes = new Set(answers.map((a) => `${a.status} ${a.code ?? ''}`))
    expect([...outcomes].sort()).toEqual(['200 ', '503 DB_UNAVAILABLE'])
    // Back to min at least, nothing lent, and PostgreSQL holds exactly what the pool counts.
    await eventually(async () => {
      const s = pool().stats()
      return s.poolInUse === 0 && s.poolSize === s.poolAvailable && (await held()) === s.poolSize
    })
    expect(pool().stats().poolSize).toBeGreaterThanOrEqual(3)
    expect((await fetch(`${t.url}/readyz`)).status).toBe(200)
  }, 60_000)

  it('reopens min connections by itself after a restart with no request coming', async () => {
    await eventually(async () => pool().stats().poolSize >= 3 && (await held()) >= 3)
    const lostBefore = pool().stats().connectionsLost
    await server.restart()
    // Within the reconnect backoff (100 ms doubling, here a few seconds), well before the
    // pool's 30 s maintenance tick would refill it anyway.
    await eventually(async () => pool().stats().poolSize === 3 && (await held()) === 3, 15_000)
    expect(pool().stats().connectionsLost).toBeGreaterThan(lostBefore)
    expect((await fetch(`${t.url}/readyz`)).status).toBe(200)
  }, 60_000)
})
