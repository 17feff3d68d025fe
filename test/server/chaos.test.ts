import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Client as NeonClient, neonConfig } from '@neondatabase/serverless'
import type pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import ws from 'ws'
import {
  admin,
  backends,
  eventually,
  serveGateway,
  startTestGateway,
  type TestGateway,
} from '../helpers/gateway.js'
import { pgClient, startWireGateway, type WireGateway } from '../helpers/wire.js'

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
      let res: Response
      let json: any
      try {
        res = await send(path, {
          method: 'POST',
          headers: { Authorization: `Bearer ${t.token}` },
          body: JSON.stringify(body),
          ...(signal ? { signal } : {}),
        })
        json = await res.json()
      } catch (error) {
        // Only the caller's own abort may leave a request without an answer.
        if (!signal?.aborted || (error as Error).name !== 'AbortError') throw error
        note('aborted')
        return undefined
      }
      // In process, a request aborted before its answer gets CLIENT_CLOSED (499), which a
      // listening server never writes (the client is gone).
      const allowed = signal?.aborted && !listen ? new Set([...ALLOWED, 'CLIENT_CLOSED']) : ALLOWED
      if (res.status >= 400) {
        expect(allowed, JSON.stringify(json)).toContain(json.error.code)
        note(json.error.code === 'CLIENT_CLOSED' ? 'aborted' : json.error.code)
      } else note(String(res.status))
      return json
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
    // Settled: nothing borrowed, waiting or still being opened (a refill after a kill).
    await eventually(() => {
      const now = pool.stats()
      return now.poolInUse === 0 && now.requestsWaiting === 0 && now.poolAvailable === now.poolSize
    }, 15_000)
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

// The same, over the PostgreSQL protocol: pg over TCP and Neon's driver over the /v2
// WebSocket, with clients killed mid-statement and mid-transaction, cancels, pinned
// session state and readonly tokens. The pool must end idle and every session clean.
describe('chaos over the PostgreSQL protocol', () => {
  let t: WireGateway
  beforeAll(async () => {
    t = await startWireGateway({
      pool: { min: 2, max: 8, acquireTimeoutMs: 10_000 },
      transactions: { maxOpenShare: 0.25 },
    })
    neonConfig.webSocketConstructor = ws
    neonConfig.useSecureWebSocket = false
    neonConfig.wsProxy = (host, port) => `${t.httpHost}/v2?address=${host}:${port}`
  })
  afterAll(() => t?.close())

  it('returns the pool to idle, clean, after clients killed mid-statement and mid-transaction', async () => {
    const next = random(Number(process.env.CHAOS_SEED ?? 11))
    const outcomes = new Map<string, number>()
    const note = (key: string) => outcomes.set(key, (outcomes.get(key) ?? 0) + 1)
    const EXPECTED = new Set(['22012', '42P01', '57014', '25006', '53400', '57P01', 'killed'])
    // Drops the socket without a Terminate: TCP for pg, the WebSocket for Neon's client.
    const kill = (client: pg.Client) => {
      const stream = (client as any).connection.stream
      if (stream.ws) stream.ws.terminate()
      else stream.destroy()
    }
    const connectTo = async (token = t.token): Promise<pg.Client> => {
      if (next() < 0.3) {
        const client = new NeonClient(`postgresql://sluice:${token}@db.invalid/main`)
        client.on('error', () => {})
        await client.connect()
        return client as unknown as pg.Client
      }
      return pgClient(t, token)
    }

    const one = async () => {
      const roll = next()
      const client = await connectTo(roll > 0.93 ? t.readonlyToken : t.token)
      try {
        if (roll < 0.25) await client.query('select $1::int + 1 as n', [Math.floor(roll * 100)])
        else if (roll < 0.32) await client.query('select 1/0')
        else if (roll < 0.4) {
          await client.query({ name: 'chaos_named', text: 'select $1::text as v', values: ['a'] })
          await client.query({ name: 'chaos_named', text: 'select $1::text as v', values: ['b'] })
        } else if (roll < 0.5) {
          await client.query('begin')
          await client.query("set local timezone = 'Asia/Tokyo'")
          await client.query('create temp table chaos_wire (x int) on commit drop')
          if (next() < 0.5) await client.query('commit')
          else await client.query('rollback')
        } else if (roll < 0.6) {
          // Killed mid-transaction, between statements.
          await client.query('begin')
          await client.query('select pg_advisory_xact_lock(99)')
          note('killed')
          return kill(client)
        } else if (roll < 0.68) {
          // Killed while its statement runs.
          void client.query('select pg_sleep(0.3)').catch(() => {})
          await new Promise((resolve) => setImmediate(resolve))
          note('killed')
          return kill(client)
        } else if (roll < 0.76) {
          await client.query('begin')
          await client.query("set local statement_timeout = '20ms'")
          await client.query('select pg_sleep(1)')
        } else if (roll < 0.86) {
          const dirt = [
            "set timezone = 'Asia/Tokyo'",
            'select pg_advisory_lock(777)',
            'prepare chaos_p as select 1',
            'listen chaos',
            'create temp table chaos_tmp (x int)',
          ]
          await client.query(dirt[Math.floor(next() * dirt.length)]!)
          await client.query('select 1')
        } else if (roll < 0.93) {
          // Left inside a transaction: closing the session rolls it back.
          await client.query('begin')
          await client.query('select 1')
        } else {
          await client.query('create table chaos_readonly (x int)')
          throw new Error('a readonly token created a table')
        }
        note('ok')
      } catch (error) {
        const code = (error as { code?: string }).code ?? 'none'
        expect(EXPECTED, String(error)).toContain(code)
        note(code)
      }
      await client.end().catch(() => {})
    }

    const total = 800
    let started = 0
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (started < total) {
          started++
          await one()
        }
      }),
    )

    const pool = t.gateway.tenants.get('main')!.pool
    await eventually(() => t.gateway.wire.size === 0, 15_000)
    // Settled: nothing borrowed, waiting or still being opened (a refill after a kill).
    await eventually(() => {
      const now = pool.stats()
      return now.poolInUse === 0 && now.requestsWaiting === 0 && now.poolAvailable === now.poolSize
    }, 15_000)
    expect(t.gateway.wire.pinnedCount()).toBe(0)
    const stats = pool.stats()
    expect(stats.poolAvailable).toBe(stats.poolSize)
    await eventually(async () =>
      (await backends(t.applicationName)).every((b) => b.state === 'idle'),
    )
    const locks = await admin(
      "select count(*)::int as n from pg_locks l join pg_stat_activity a using (pid) where l.locktype = 'advisory' and a.application_name = $1",
      [t.applicationName],
    )
    expect(locks[0].n).toBe(0)
    // Every connection, borrowed at once by a wire transaction, shows a clean session.
    const clients = await Promise.all(Array.from({ length: stats.poolSize }, () => pgClient(t)))
    await Promise.all(clients.map((c) => c.query('begin')))
    const answers = await Promise.all(
      clients.map((c) =>
        c.query(
          "select current_setting('timezone') || ',' || (select count(*) from pg_prepared_statements where from_sql) || ',' || (select count(*) from pg_listening_channels()) || ',' || coalesce(to_regclass('chaos_tmp')::text, '-') as state",
        ),
      ),
    )
    await Promise.all(clients.map((c) => c.query('commit').then(() => c.end())))
    for (const answer of answers) expect(answer.rows[0].state).toBe('UTC,0,0,-')
    expect(outcomes.get('ok')).toBeGreaterThan(total / 3)
    expect(outcomes.get('killed') ?? 0).toBeGreaterThan(0)
    expect(outcomes.get('57014') ?? 0).toBeGreaterThan(0)
  }, 120_000)
})
