import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  admin,
  backends,
  eventually,
  serveGateway,
  startTestGateway,
  type TestGateway,
} from '../helpers/gateway.js'

// A small seeded PRNG, so a failure can be replayed.
function random(seed: number) {
  return () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
    return seed / 2_147_483_648
  }
}

const ALLOWED = new Set([
  'DATABASE_ERROR',
  'STATEMENT_TIMEOUT',
  'TX_NOT_FOUND',
  'TX_LIMIT_REACHED',
  'POOL_TIMEOUT',
])

// Once through the Hono app in process, once over real sockets, where `/v1/query` takes the
// direct path (server/http/direct-query.ts) and an abort closes the connection.
describe.each([
  { transport: 'the in-process app', listen: false },
  { transport: 'a listening server', listen: true },
])('chaos through $transport', ({ listen }) => {
  let t: TestGateway
  let server: Server | undefined
  let send: (path: string, init: RequestInit) => Response | Promise<Response>
  beforeAll(async () => {
    t = await startTestGateway({
      pool: { min: 2, max: 8, acquireTimeoutMs: 10_000 },
      transactions: { idleTimeoutMs: 150, maxOpenShare: 0.5 },
    })
    send = (path, init) => t.gateway.app.request(path, init)
    if (listen) {
      const listening = serveGateway(t.gateway)
      server = listening
      await new Promise((resolve) => listening.once('listening', resolve))
      const base = `http://127.0.0.1:${(listening.address() as AddressInfo).port}`
      send = (path, init) => fetch(`${base}${path}`, init)
    }
  })
  afterAll(async () => {
    server?.closeAllConnections()
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)))
    await t.close()
  })

  it('returns the pool to idle, clean, after thousands of requests with aborts, errors, timeouts and abandoned transactions', async () => {
    const next = random(Number(process.env.CHAOS_SEED ?? 7))
    const outcomes = new Map<string, number>()
    const note = (key: string) => outcomes.set(key, (outcomes.get(key) ?? 0) + 1)
    const call = async (path: string, body: unknown, signal?: AbortSignal) => {
      try {
        const res = await send(path, {
          method: 'POST',
          headers: { Authorization: `Bearer ${t.token}` },
          body: JSON.stringify(body),
          ...(signal ? { signal } : {}),
        })
        const json = (await res.json()) as any
        if (res.status >= 400) {
          expect(ALLOWED, JSON.stringify(json)).toContain(json.error.code)
          note(json.error.code)
        } else note(String(res.status))
        return json
      } catch (error) {
        if (!signal?.aborted) throw error
        note('aborted')
        return undefined
      }
    }

    const one = async () => {
      const roll = next()
      if (roll < 0.35)
        return call('/v1/query', { sql: 'select $1::int + 1', params: [Math.floor(roll * 100)] })
      if (roll < 0.45) return call('/v1/query', { sql: 'select * from chaos_missing_table' })
      if (roll < 0.55)
        return call('/v1/query', {
          sql: 'select pg_sleep(1)',
          timeoutMs: 10 + Math.floor(next() * 30),
        })
      if (roll < 0.65) {
        const controller = new AbortController()
        setTimeout(() => controller.abort(), Math.floor(next() * 40))
        return call('/v1/query', { sql: 'select pg_sleep(0.2)' }, controller.signal)
      }
      if (roll < 0.72) {
        return call('/v1/batch', {
          statements: [{ sql: 'create temp table chaos_t (x int)' }, { sql: 'select 1/0' }],
        })
      }
      if (roll < 0.82) {
        const dirt = [
          "set timezone = 'Asia/Tokyo'",
          'select pg_advisory_lock(777)',
          'prepare chaos_p as select 1',
          'listen chaos',
          'create temp table chaos_tmp (x int)',
        ]
        return call('/v1/query', { sql: dirt[Math.floor(next() * dirt.length)] })
      }
      const begun = await call('/v1/transactions', {})
      if (!begun?.id) return
      await call(`/v1/transactions/${begun.id}/query`, { sql: "set local timezone = 'Asia/Tokyo'" })
      const end = next()
      if (end < 0.4) return call(`/v1/transactions/${begun.id}/commit`, {})
      if (end < 0.7) return call(`/v1/transactions/${begun.id}/rollback`, {})
      // Abandoned: the idle timeout must roll it back.
    }

    const total = 2000
    let started = 0
    await Promise.all(
      Array.from({ length: 40 }, async () => {
        while (started < total) {
          started++
          await one()
        }
      }),
    )

    const pool = t.gateway.tenants.get('main')!.pool
    await eventually(() => t.gateway.transactions.count() === 0, 15_000)
    await eventually(
      () => pool.stats().poolInUse === 0 && pool.stats().requestsWaiting === 0,
      15_000,
    )
    const stats = pool.stats()
    expect(stats.poolSize).toBeGreaterThanOrEqual(2)
    expect(stats.poolSize).toBeLessThanOrEqual(8)
    expect(stats.poolAvailable).toBe(stats.poolSize)

    const states = await backends(t.applicationName)
    expect(states.filter((b) => b.state !== 'idle')).toEqual([])
    const locks = await admin(
      "select count(*)::int as n from pg_locks l join pg_stat_activity a using (pid) where l.locktype = 'advisory' and a.application_name = $1",
      [t.applicationName],
    )
    expect(locks[0].n).toBe(0)

    // Every idle connection, borrowed at once, shows a clean session.
    const clean = await Promise.all(
      Array.from({ length: stats.poolSize }, () =>
        call('/v1/query', {
          sql: "select current_setting('timezone') || ',' || (select count(*) from pg_prepared_statements where name not like 'sluice%') || ',' || (select count(*) from pg_listening_channels()) || ',' || coalesce(to_regclass('chaos_tmp')::text, '-') || ',' || (pg_sleep(0.05)::text = '')",
        }),
      ),
    )
    for (const answer of clean) expect(answer.rows[0][0]).toBe('UTC,0,0,-,true')
    expect(outcomes.get('200')).toBeGreaterThan(total / 3)
    expect(outcomes.get('aborted') ?? 0).toBeGreaterThan(0)
    expect(outcomes.get('STATEMENT_TIMEOUT') ?? 0).toBeGreaterThan(0)
  }, 120_000)
})
