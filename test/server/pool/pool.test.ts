import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { parseConfig } from '../../../server/config/load.js'
import type { ConfigInput } from '../../../server/config/schema.js'
import type { Connection } from '../../../server/pool/connection.js'
import type { PoolEvent } from '../../../server/pool/pool-event.js'
import { createTenant, type Tenant } from '../../../server/tenants/tenant.js'
import {
  admin,
  backends,
  databaseUrl,
  eventually,
  listenTestGateway,
  newToken,
  startTestGateway,
  type TestGateway,
} from '../../helpers/gateway.js'
import { EMPTY_QUERY, occurrences, startTcpProxy, type TcpProxy } from '../../helpers/tcp-proxy.js'

/** A tenant of its own (no gateway), with every pool event it reports. */
function tenantWith(
  input: Partial<ConfigInput['tenants'][string]>,
): Tenant & { events: PoolEvent[] } {
  const config = parseConfig(
    {
      tenants: {
        p: {
          connection: { url: databaseUrl() },
          tokens: [{ token: newToken() }],
          allowPrivilegedRole: true,
          ...input,
        },
      },
    },
    {},
  )
  const events: PoolEvent[] = []
  const tenant = createTenant('p', config.tenants.p!, {
    onPoolEvent: (_name, event) => events.push(event),
  })
  return { ...tenant, events }
}

describe('pool', () => {
  let t: TestGateway | undefined
  afterEach(async () => {
    await t?.close()
    t = undefined
  })

  const pid = async (gateway: TestGateway) => {
    const { body } = await gateway.json('/v1/query', { sql: 'select pg_backend_pid()::int as pid' })
    return Number(body.rows[0][0])
  }

  it('never opens a third backend with max 2, even for twenty concurrent pg_sleep requests', async () => {
    t = await startTestGateway({ pool: { min: 0, max: 2 } })
    const gateway = t
    let peak = 0
    let done = false
    const watcher = (async () => {
      while (!done) {
        // Each sample is a round trip to PostgreSQL, which paces the loop.
        peak = Math.max(peak, (await backends(gateway.applicationName)).length)
      }
    })()
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => gateway.json('/v1/query', { sql: 'select pg_sleep(0.05)' })),
    )
    done = true
    await watcher
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200))
    expect(peak).toBeGreaterThan(0)
    expect(peak).toBeLessThanOrEqual(2)
    const stats = gateway.gateway.tenants.get('main')!.pool.stats()
    expect(stats.poolSize).toBeLessThanOrEqual(2)
    expect(stats.requestsNum).toBe(20)
    expect(stats.requestsQueued).toBeGreaterThanOrEqual(18)
  })

  it('opens min connections at start and refills after one is killed', async () => {
    t = await startTestGateway({ pool: { min: 2, max: 4 } })
    expect(await backends(t.applicationName)).toHaveLength(2)
    const [victim] = await backends(t.applicationName)
    await admin('select pg_terminate_backend($1)', [victim!.pid])
    const gateway = t
    await eventually(async () => {
      const now = await backends(gateway.applicationName)
      return now.length === 2 && !now.some((b) => b.pid === victim!.pid)
    })
    expect(t.gateway.tenants.get('main')!.pool.stats().connectionsLost).toBeGreaterThanOrEqual(1)
  })

  describe('health check before lending', () => {
    let proxy: TcpProxy
    afterEach(() => proxy?.close())

    it('checks a connection idle past healthCheckAfterIdleMs, and lends a new one when its backend went away without a word', async () => {
      proxy = await startTcpProxy()
      const events: PoolEvent[] = []
      t = await startTestGateway(
        { connection: { url: proxy.url }, pool: { min: 1, max: 1, healthCheckAfterIdleMs: 0 } },
        { onPoolEvent: (_tenant, event) => events.push(event) },
      )
      const before = await pid(t)
      // Once the session reset that followed has its answer, the backend exits, but the gateway's socket stays open and hears nothing: the socket
      // 'end' handler cannot notice, only the check before lending can.
      const link = proxy.links[0]!
      await eventually(() => link.sent().includes('DISCARD ALL') && link.quiet())
      link.silence()
      await eventually(
        async () => !(await backends(t!.applicationName)).some((b) => b.pid === before),
      )
      const answer = await t.json('/v1/query', { sql: 'select pg_backend_pid()::int' })
      expect(answer.status, JSON.stringify(answer.body)).toBe(200)
      expect(Number(answer.body.rows[0][0])).not.toBe(before)
      expect(events).toContainEqual({ type: 'health-check-failed', pid: before })
      expect(proxy.links).toHaveLength(2)
    })

    it('gives up a connection whose session reset gets no answer, and lends the next borrower a new one', async () => {
      proxy = await startTcpProxy()
      const { pool, events } = tenantWith({
        connection: { url: proxy.url, connectTimeoutMs: 300 },
        pool: { min: 0, max: 1 },
      })
      try {
        const connection = await pool.acquire()
        await connection.simple('select 1')
        // The network goes silent just as the borrower gives the connection back.
        proxy.links[0]!.mute()
        pool.release(connection)
        const next = await pool.acquire()
        expect(next).not.toBe(connection)
        expect((await next.run({ text: 'select 2', simple: true })).rows).toEqual([['2']])
        expect(events).toContainEqual({
          type: 'recycled',
          pid: connection.pid,
          reason: 'reset-failed',
        })
        pool.release(next)
      } finally {
        await pool.destroy()
      }
    })

    it('counts a connection whose socket closes during its health check as lost once', async () => {
      proxy = await startTcpProxy()
      t = await startTestGateway({
        connection: { url: proxy.url },
        pool: { min: 1, max: 1, healthCheckAfterIdleMs: 0 },
      })
      const pool = t.gateway.tenants.get('main')!.pool
      const link = proxy.links[0]!
      await eventually(() => pool.stats().poolAvailable === 1 && link.quiet())
      link.mute()
      const answering = t.json('/v1/query', { sql: 'select 1' })
      // The check went out and hears nothing; then the socket closes under it.
      await eventually(() => occurrences(link.sent(), EMPTY_QUERY) === 1)
      link.cut()
      expect((await answering).status).toBe(200)
      expect(pool.stats().connectionsLost).toBe(1)
    })

    it('answers POOL_TIMEOUT at acquireTimeoutMs while checks of silent idle connections still wait, and leaves no connection lent', async () => {
      proxy = await startTcpProxy()
      const listening = await listenTestGateway({
        // A check may take 2 s; the request may wait 300 ms.
        connection: { url: proxy.url, connectTimeoutMs: 2000 },
        pool: { min: 2, max: 2, healthCheckAfterIdleMs: 0, acquireTimeoutMs: 300 },
      })
      t = listening
      const pool = t.gateway.tenants.get('main')!.pool
      await eventually(
        () => pool.stats().poolAvailable === 2 && proxy.links.every((l) => l.quiet()),
      )
      for (const link of proxy.links) link.mute()
      const res = await fetch(`${listening.url}/v1/query`, {
        method: 'POST',
        headers: { authorization: `Bearer ${t.token}` },
        body: JSON.stringify({ sql: 'select 1' }),
      })
      expect(res.status).toBe(503)
      expect(((await res.json()) as any).error).toMatchObject({ code: 'POOL_TIMEOUT' })
      // The check it gave up on fails in the background: that connection is replaced, and
      // nothing stays lent.
      await eventually(
        () =>
          pool.stats().poolInUse === 0 &&
          pool.stats().poolAvailable === 2 &&
          proxy.links.length === 3,
      )
      expect((await t.json('/v1/query', { sql: 'select 1' })).status).toBe(200)
    }, 30_000)

    it('closes, even when its idle connections sit behind a network that stopped answering', async () => {
      proxy = await startTcpProxy()
      const { pool } = tenantWith({
        connection: { url: proxy.url, connectTimeoutMs: 500 },
        pool: { min: 2, max: 2 },
      })
      await pool.start()
      await eventually(
        () => pool.stats().poolAvailable === 2 && proxy.links.every((l) => l.quiet()),
      )
      for (const link of proxy.links) link.freeze()
      // Bounded only so that a hang fails here, with a message, rather than at the test's timeout.
      const closed = await Promise.race([
        pool.close().then(() => 'closed'),
        new Promise((resolve) => setTimeout(() => resolve('still closing'), 10_000)),
      ])
      expect(closed).toBe('closed')
    })

    it('sends the check (an empty query) only to connections idle past healthCheckAfterIdleMs', async () => {
      proxy = await startTcpProxy()
      t = await startTestGateway({
        connection: { url: proxy.url },
        pool: { min: 1, max: 1, healthCheckAfterIdleMs: 60_000 },
      })
      for (let i = 0; i < 3; i++)
        expect((await t.json('/v1/query', { sql: 'select 1' })).status).toBe(200)
      expect(occurrences(proxy.links[0]!.sent(), EMPTY_QUERY)).toBe(0)
      await t.close()
      await proxy.close()

      proxy = await startTcpProxy()
      t = await startTestGateway({
        connection: { url: proxy.url },
        pool: { min: 1, max: 1, healthCheckAfterIdleMs: 0 },
      })
      for (let i = 0; i < 3; i++)
        expect((await t.json('/v1/query', { sql: 'select 1' })).status).toBe(200)
      expect(occurrences(proxy.links[0]!.sent(), EMPTY_QUERY)).toBe(3)
    })
  })

  it('answers POOL_TIMEOUT (503, retryable, Retry-After) when no connection frees in acquireTimeoutMs', async () => {
    t = await startTestGateway({
      // Opened at start: the transaction below needs no connect within acquireTimeoutMs.
      pool: { min: 1, max: 1, acquireTimeoutMs: 100 },
      transactions: { maxOpenShare: 1 },
    })
    const pool = t.gateway.tenants.get('main')!.pool
    // An open transaction holds the only connection; its idle timeout, far longer than the
    // acquire timeout, would hand the connection to a request that waited too long.
    const tx = (await t.json('/v1/transactions', { idleTimeoutMs: 5000 })).body
    const { status, body, headers } = await t.json('/v1/query', { sql: 'select 1' })
    expect(status).toBe(503)
    expect(body.error).toMatchObject({ code: 'POOL_TIMEOUT', retryable: true })
    expect(headers.get('retry-after')).toBe('1')
    expect(pool.stats().requestsErrors).toBe(1)
    // The transaction still holds its connection: the request gave up before it ended.
    const inside = await t.json(`/v1/transactions/${tx.id}/query`, { sql: 'select 1' })
    expect(inside.status).toBe(200)
    await t.json(`/v1/transactions/${tx.id}/rollback`, {})
    expect((await t.json('/v1/query', { sql: 'select 1' })).status).toBe(200)
  })

  it('queues up to maxWaiting requests and fails the next one fast with POOL_QUEUE_FULL', async () => {
    t = await startTestGateway({
      pool: { min: 0, max: 1, maxWaiting: 2 },
      transactions: { maxOpenShare: 1 },
    })
    const pool = t.gateway.tenants.get('main')!.pool
    const tx = (await t.json('/v1/transactions', {})).body
    // The only connection is held by the transaction: each query now waits.
    const first = t.json('/v1/query', { sql: 'select 1' })
    await eventually(() => pool.stats().requestsWaiting === 1)
    const second = t.json('/v1/query', { sql: 'select 2' })
    await eventually(() => pool.stats().requestsWaiting === 2)
    const { status, body, headers } = await t.json('/v1/query', { sql: 'select 3' })
    expect(status).toBe(429)
    expect(body.error).toMatchObject({ code: 'POOL_QUEUE_FULL', retryable: true })
    expect(headers.get('retry-after')).toBe('1')
    // Refused at once: the two before it still wait.
    expect(pool.stats().requestsWaiting).toBe(2)
    await t.json(`/v1/transactions/${tx.id}/rollback`, {})
    expect((await first).body.rows).toEqual([['1']])
    expect((await second).body.rows).toEqual([['2']])
  })

  it('counts toward maxWaiting only the requests no connection is being opened for: a burst below max all get one', async () => {
    const { pool } = tenantWith({ pool: { min: 0, max: 4, maxWaiting: 1 } })
    const lent: Connection[] = []
    const borrow = async () => lent.push(await pool.acquire())
    try {
      // Four at once, with nothing open yet: the pool opens one connection for each.
      const burst = await Promise.allSettled(Array.from({ length: 4 }, borrow))
      expect(burst.map((r) => r.status)).toEqual(Array.from({ length: 4 }, () => 'fulfilled'))
      expect(pool.stats().requestsErrors).toBe(0)
      // Every connection is lent: one may wait, the next is refused.
      const waiting = borrow()
      await expect(pool.acquire()).rejects.toMatchObject({ code: 'POOL_QUEUE_FULL' })
      pool.release(lent[0]!)
      await waiting
    } finally {
      for (const connection of lent) pool.release(connection)
      await pool.close()
    }
  })

  it('recycles a connection past maxLifetimeSeconds', async () => {
    const events: PoolEvent[] = []
    t = await startTestGateway(
      { pool: { min: 0, max: 1, maxLifetimeSeconds: 0.3 } },
      { onPoolEvent: (_tenant, event) => events.push(event) },
    )
    const first = await pid(t)
    await eventually(() => events.some((e) => e.type === 'recycled' && e.pid === first))
    expect(events).toContainEqual({ type: 'recycled', pid: first, reason: 'lifetime' })
    const second = await pid(t)
    expect(second).not.toBe(first)
    const stats = t.gateway.tenants.get('main')!.pool.stats()
    expect(stats.connectionsClosed).toBeGreaterThanOrEqual(1)
    expect(stats.connectionsNum).toBeGreaterThanOrEqual(2)
  })

  it('closes connections idle past maxIdleSeconds, down to min', async () => {
    t = await startTestGateway({ pool: { min: 1, max: 3, maxIdleSeconds: 0.3 } })
    const gateway = t
    const pool = gateway.gateway.tenants.get('main')!.pool
    // Three requests held at once, on an advisory lock, so the pool must open three
    // connections however slowly the machine runs them.
    const key = 7_000_000 + (process.pid % 1_000_000)
    const holder = new pg.Client({ connectionString: databaseUrl() })
    await holder.connect()
    await holder.query('select pg_advisory_lock($1)', [key])
    const held = Array.from({ length: 3 }, () =>
      gateway.json('/v1/query', { sql: `select pg_advisory_xact_lock_shared(${key})` }),
    )
    await eventually(() => pool.stats().poolInUse === 3)
    await holder.query('select pg_advisory_unlock($1)', [key])
    await holder.end()
    for (const answer of await Promise.all(held)) expect(answer.status).toBe(200)
    await eventually(async () => (await backends(gateway.applicationName)).length === 1)
    expect(t.gateway.tenants.get('main')!.pool.stats().poolSize).toBe(1)
  })

  it('keeps psycopg_pool-style statistics', async () => {
    t = await startTestGateway({ pool: { min: 1, max: 2 } })
    for (let i = 0; i < 3; i++) await t.json('/v1/query', { sql: 'select 1' })
    const pool = t.gateway.tenants.get('main')!.pool
    // Each answer comes before its session reset ends; then the connection is back.
    await eventually(() => pool.stats().poolInUse === 0)
    const stats = pool.stats()
    expect(stats).toMatchObject({
      poolMin: 1,
      poolMax: 2,
      poolSize: 1,
      poolAvailable: 1,
      poolInUse: 0,
      requestsWaiting: 0,
      requestsNum: 3,
      requestsQueued: 0,
      requestsErrors: 0,
      connectionsNum: 1,
      connectionsErrors: 0,
    })
    expect(stats.connectionsMs).toBeGreaterThanOrEqual(0)
  })

  it('answers DB_UNAVAILABLE (503, Retry-After) when the database cannot be reached, naming no secret', async () => {
    t = await startTestGateway({
      connection: { url: 'postgres://app:hunter2-secret@127.0.0.1:1/app', connectTimeoutMs: 1000 },
      pool: { min: 0, max: 2 },
    })
    const res = await t.post('/v1/query', { sql: 'select 1' })
    const text = await res.text()
    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toBe('1')
    expect(JSON.parse(text).error).toMatchObject({ code: 'DB_UNAVAILABLE', retryable: true })
    expect(text).not.toContain('hunter2')
    const ready = await t.gateway.app.request('/readyz')
    const readyText = await ready.text()
    expect(ready.status).toBe(503)
    expect(readyText).toContain('main')
    expect(readyText).not.toContain('hunter2')
    expect(t.gateway.tenants.get('main')!.pool.stats().connectionsErrors).toBeGreaterThanOrEqual(1)
  })
})

describe('lending and returning', () => {
  it('lends the connection returned last (most recently used first)', async () => {
    const { pool } = tenantWith({ pool: { min: 0, max: 3 } })
    try {
      const [a, b, c] = await Promise.all([pool.acquire(), pool.acquire(), pool.acquire()])
      expect(new Set([a, b, c]).size).toBe(3)
      pool.release(b)
      pool.release(c)
      pool.release(a)
      const next = await pool.acquire()
      expect(next).toBe(a)
      const after = await pool.acquire()
      expect(after).toBe(c)
      pool.release(next)
      pool.release(after)
    } finally {
      await pool.destroy()
    }
  })

  it('times each waiter from its own arrival: a later waiter outlives an earlier one that timed out, and gets the connection', async () => {
    const { pool } = tenantWith({ pool: { min: 0, max: 1, acquireTimeoutMs: 400 } })
    try {
      const held = await pool.acquire()
      const first = pool.acquire().then(
        () => 'lent',
        (error: { code?: string }) => error.code,
      )
      await new Promise((resolve) => setTimeout(resolve, 250))
      const second = pool.acquire()
      // The first gives up at its own deadline; the second, 250 ms younger, still waits.
      expect(await first).toBe('POOL_TIMEOUT')
      expect(pool.stats().requestsWaiting).toBe(1)
      pool.release(held)
      const lent = await second
      expect(lent).toBe(held)
      pool.release(lent)
    } finally {
      await pool.destroy()
    }
  })

  it('rolls back a connection returned inside a transaction, counts it in returnsBad, and lends it again clean', async () => {
    const table = `pool_probe_${process.pid}`
    await admin(`create table if not exists ${table} (x int)`)
    const { pool, events } = tenantWith({ pool: { min: 0, max: 1 } })
    try {
      const connection = await pool.acquire()
      await connection.simple('begin')
      await connection.simple(`insert into ${table} values (1)`)
      expect(connection.transactionStatus).toBe('T')
      pool.release(connection)
      expect(pool.stats().returnsBad).toBe(1)

      // The same connection comes back, out of the transaction: the reset rolled it back.
      const again = await pool.acquire()
      expect(again).toBe(connection)
      expect(again.transactionStatus).toBe('I')
      expect(await admin(`select count(*)::int as n from ${table}`)).toEqual([{ n: 0 }])

      // A failed transaction ('E') too.
      await again.simple('begin')
      await expect(again.simple('select 1/0')).rejects.toThrow('division by zero')
      // The statement fails on PostgreSQL's ErrorResponse; its ReadyForQuery ('E') may come in
      // a later read, on a loaded machine.
      await eventually(() => again.transactionStatus === 'E')
      pool.release(again)
      expect(pool.stats().returnsBad).toBe(2)
      const third = await pool.acquire()
      expect(third).toBe(connection)
      expect(third.transactionStatus).toBe('I')

      // A clean return is not a bad one.
      pool.release(third)
      expect(pool.stats().returnsBad).toBe(2)
      expect(events.filter((e) => e.type === 'recycled')).toEqual([])
    } finally {
      await pool.destroy()
      await admin(`drop table if exists ${table}`)
    }
  })
})

describe('hold-time watchdog', () => {
  it('reports a connection held past holdWarningMs, naming its holder', async () => {
    const config = parseConfig(
      {
        tenants: {
          w: {
            allowPrivilegedRole: true,
            connection: { url: databaseUrl() },
            tokens: [{ token: 'watchdog-token-0123456789' }],
            pool: { min: 0, max: 1, holdWarningMs: 100 },
          },
        },
      },
      {},
    )
    const events: any[] = []
    const tenant = createTenant('w', config.tenants.w!, {
      onPoolEvent: (_name, event) => events.push(event),
    })
    const connection = await tenant.pool.acquire(undefined, 'request-42')
    await connection.simple('select pg_sleep(0.4)')
    tenant.pool.release(connection)
    await tenant.pool.close()
    const held = events.filter((e) => e.type === 'held-too-long')
    expect(held).toHaveLength(1)
    expect(held[0]).toMatchObject({ holder: 'request-42', pid: connection.pid })
    expect(held[0].ms).toBeGreaterThanOrEqual(100)
  })
})
