import { afterEach, describe, expect, it } from 'vitest'
import { parseConfig } from '../../../server/config/load.js'
import { createTenant } from '../../../server/tenants/tenant.js'
import {
  admin,
  backends,
  databaseUrl,
  eventually,
  startTestGateway,
  type TestGateway,
} from '../../helpers/gateway.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

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
        peak = Math.max(peak, (await backends(gateway.applicationName)).length)
        await sleep(20)
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

  it('never hands out a killed connection: the health check replaces it', async () => {
    t = await startTestGateway({ pool: { min: 1, max: 1, healthCheckAfterIdleMs: 0 } })
    const before = await pid(t)
    await admin('select pg_terminate_backend($1)', [before])
    await sleep(50)
    const answer = await t.json('/v1/query', { sql: 'select pg_backend_pid()::int' })
    expect(answer.status).toBe(200)
    expect(Number(answer.body.rows[0][0])).not.toBe(before)
  })

  it('answers POOL_TIMEOUT (503, retryable, Retry-After) when no connection frees in time', async () => {
    t = await startTestGateway({ pool: { min: 0, max: 1, acquireTimeoutMs: 100 } })
    const slow = t.json('/v1/query', { sql: 'select pg_sleep(0.5)' })
    await sleep(50)
    const { status, body, headers } = await t.json('/v1/query', { sql: 'select 1' })
    expect(status).toBe(503)
    expect(body.error).toMatchObject({ code: 'POOL_TIMEOUT', retryable: true })
    expect(headers.get('retry-after')).toBe('1')
    expect((await slow).status).toBe(200)
    expect(t.gateway.tenants.get('main')!.pool.stats().requestsErrors).toBe(1)
  })

  it('fails fast with POOL_QUEUE_FULL when maxWaiting requests already wait', async () => {
    t = await startTestGateway({ pool: { min: 0, max: 1, maxWaiting: 1 } })
    let runningDone = false
    const running = t.json('/v1/query', { sql: 'select pg_sleep(0.5)' }).finally(() => {
      runningDone = true
    })
    await sleep(50)
    const waiting = t.json('/v1/query', { sql: 'select 2' })
    await sleep(20)
    const { status, body, headers } = await t.json('/v1/query', { sql: 'select 3' })
    expect(status).toBe(429)
    expect(body.error).toMatchObject({ code: 'POOL_QUEUE_FULL', retryable: true })
    expect(headers.get('retry-after')).toBe('1')
    // Refused at once, not after waiting for the running statement.
    expect(runningDone).toBe(false)
    expect((await running).status).toBe(200)
    expect((await waiting).status).toBe(200)
  })

  it('recycles a connection past maxLifetimeSeconds', async () => {
    t = await startTestGateway({ pool: { min: 0, max: 1, maxLifetimeSeconds: 0.3 } })
    const first = await pid(t)
    await sleep(400)
    const second = await pid(t)
    expect(second).not.toBe(first)
    const stats = t.gateway.tenants.get('main')!.pool.stats()
    expect(stats.connectionsClosed).toBeGreaterThanOrEqual(1)
    expect(stats.connectionsNum).toBeGreaterThanOrEqual(2)
  })

  it('closes connections idle past maxIdleSeconds, down to min', async () => {
    t = await startTestGateway({ pool: { min: 1, max: 3, maxIdleSeconds: 0.3 } })
    await Promise.all(
      Array.from({ length: 3 }, () => t!.json('/v1/query', { sql: 'select pg_sleep(0.1)' })),
    )
    expect((await backends(t.applicationName)).length).toBe(3)
    const gateway = t
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
