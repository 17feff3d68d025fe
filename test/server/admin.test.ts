import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  databaseUrl,
  eventually,
  newToken,
  serveGateway,
  startTestGateway,
  type TestGateway,
} from '../helpers/gateway.js'

describe('the admin API', () => {
  let t: TestGateway
  const adminToken = newToken()
  const otherToken = newToken()
  const call = async (method: string, path: string, token: string | null = adminToken) => {
    const res = await t.gateway.app.request(path, {
      method,
      headers: token === null ? {} : { Authorization: `Bearer ${token}` },
    })
    return { status: res.status, body: (await res.json()) as any }
  }
  beforeAll(async () => {
    t = await startTestGateway(
      { pool: { min: 1, max: 3, acquireTimeoutMs: 10_000 } },
      {
        server: { adminToken },
        extraTenants: {
          other: {
            allowPrivilegedRole: true,
            connection: { url: databaseUrl() },
            pool: { min: 0, max: 2 },
            tokens: [{ token: otherToken }],
          },
        },
      },
    )
  })
  afterAll(() => t.close())

  it('refuses requests without the admin token, or with a tenant token', async () => {
    expect(await call('GET', '/admin/tenants', null)).toMatchObject({
      status: 401,
      body: { error: { code: 'UNAUTHORIZED' } },
    })
    expect((await call('GET', '/admin/tenants', t.token)).status).toBe(401)
  })

  it('lists the tenants with their pool statistics', async () => {
    await t.post('/v1/query', { sql: 'select 1' })
    // The answer comes before the session reset ends; then the connection is back.
    const pool = t.gateway.tenants.get('main')!.pool
    await eventually(() => pool.stats().poolInUse === 0)
    const { status, body } = await call('GET', '/admin/tenants')
    expect(status).toBe(200)
    expect(body.tenants.map((x: any) => x.name)).toEqual(['main', 'other'])
    const main = body.tenants[0]
    expect(main).toMatchObject({ paused: false, openTransactions: 0, drainingPools: 0 })
    expect(main.pool).toMatchObject({ poolMin: 1, poolMax: 3, poolInUse: 0, requestsWaiting: 0 })
    expect(main.pool.requestsNum).toBeGreaterThanOrEqual(1)
    expect(body.tenants[1].pool).toMatchObject({ poolMin: 0, poolMax: 2 })
  })

  it('shows one tenant, and NOT_FOUND for an unknown one', async () => {
    expect((await call('GET', '/admin/tenants/other')).body.name).toBe('other')
    expect(await call('GET', '/admin/tenants/nobody')).toMatchObject({
      status: 404,
      body: { error: { code: 'NOT_FOUND' } },
    })
    expect((await call('POST', '/admin/tenants/nobody/pause')).status).toBe(404)
  })

  it('shows the config in force with every secret redacted', async () => {
    const { status, body } = await call('GET', '/admin/config')
    expect(status).toBe(200)
    const text = JSON.stringify(body)
    expect(body.tenants.main.pool.max).toBe(3)
    expect(body.server.adminToken).toBe('[redacted]')
    // The test database's real password (if it has one) is in both tenants' connection URLs.
    const password = new URL(databaseUrl()).password
    for (const secret of [adminToken, t.token, t.readonlyToken, otherToken, password]) {
      if (secret !== '') expect(text).not.toContain(secret)
    }
  })

  it('pauses a tenant like PgBouncer: in-flight work finishes, new requests wait until resume', async () => {
    const pool = t.gateway.tenants.get('main')!.pool
    await eventually(() => pool.stats().poolInUse === 0)
    const inFlight = t.post('/v1/query', { sql: 'select pg_sleep(0.3), 1 as n' })
    await eventually(() => pool.stats().poolInUse === 1)
    const paused = await call('POST', '/admin/tenants/main/pause')
    // The pause answered only after the in-flight statement finished.
    expect(paused).toMatchObject({ status: 200, body: { paused: true, settled: true } })
    expect(paused.body.pool.poolInUse).toBe(0)
    expect((await inFlight).status).toBe(200)
    // PAUSE closed the connections: the database could restart now.
    expect(paused.body.pool.poolSize).toBe(0)

    let answered = false
    const waiting = t.post('/v1/query', { sql: 'select 2 as n' }).then((res) => {
      answered = true
      return res
    })
    await eventually(() => pool.stats().requestsWaiting === 1)
    expect(answered).toBe(false)
    // The other tenant is not paused.
    expect((await t.post('/v1/query', { sql: 'select 1' }, { token: otherToken })).status).toBe(200)
    // A paused tenant is held on purpose: /readyz stays ready.
    expect((await t.gateway.app.request('/readyz')).status).toBe(200)
    const listed = await call('GET', '/admin/tenants/main')
    expect(listed.body).toMatchObject({ paused: true, pool: { requestsWaiting: 1 } })

    const resumed = await call('POST', '/admin/tenants/main/resume')
    expect(resumed).toMatchObject({ status: 200, body: { paused: false } })
    const res = await waiting
    expect(res.status).toBe(200)
    expect(((await res.json()) as any).rows).toEqual([['2']])
  })

  it('answers pause with settled: false when in-flight work outlasts waitMs', async () => {
    const tx = (await t.json('/v1/transactions', {})).body
    const paused = await call('POST', '/admin/tenants/main/pause?waitMs=50')
    expect(paused.body).toMatchObject({ paused: true, settled: false, openTransactions: 1 })
    // The open transaction still works while paused, and ends normally.
    expect((await t.post(`/v1/transactions/${tx.id}/query`, { sql: 'select 1' })).status).toBe(200)
    expect((await t.post(`/v1/transactions/${tx.id}/commit`, {})).status).toBe(200)
    await call('POST', '/admin/tenants/main/resume')
    expect((await t.post('/v1/query', { sql: 'select 1' })).status).toBe(200)
  })

  describe('over a listening gateway', () => {
    let server: Server
    let base: string
    beforeAll(async () => {
      server = serveGateway(t.gateway)
      await new Promise((resolve) => server.once('listening', resolve))
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    })
    afterAll(async () => {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    })
    const fetchAdmin = async (path: string) => {
      const res = await fetch(base + path, {
        method: 'POST',
        headers: { Authorization: `Bearer ${adminToken}` },
      })
      return { status: res.status, body: (await res.json()) as any }
    }

    it('refuses a waitMs that is not written as a whole number of milliseconds, and pauses nothing', async () => {
      try {
        for (const waitMs of ['', '1e3', '0x10', ' 5', '5 ', '+5', '5.0', '-0', 'abc']) {
          const res = await fetchAdmin(
            `/admin/tenants/main/pause?waitMs=${encodeURIComponent(waitMs)}`,
          )
          expect(res.status, JSON.stringify(waitMs)).toBe(400)
          expect(res.body.error.message).toContain('waitMs')
          expect((await call('GET', '/admin/tenants/main')).body.paused).toBe(false)
        }
      } finally {
        await call('POST', '/admin/tenants/main/resume')
      }
    })

    it('answers a pause that a resume cut short with settled: false', async () => {
      const pool = t.gateway.tenants.get('main')!.pool
      const tx = (await t.json('/v1/transactions', {})).body
      try {
        // The open transaction holds its connection: the pause waits for it.
        const pause = fetchAdmin('/admin/tenants/main/pause?waitMs=60000')
        await eventually(() => pool.paused)
        expect((await fetchAdmin('/admin/tenants/main/resume')).body.paused).toBe(false)
        const answer = await pause
        expect(answer.status).toBe(200)
        expect(answer.body).toMatchObject({ paused: false, settled: false, openTransactions: 1 })
      } finally {
        await t.post(`/v1/transactions/${tx.id}/rollback`, {})
        await call('POST', '/admin/tenants/main/resume')
      }
    })
  })

  it('refuses a reload when the gateway was started without a config file', async () => {
    expect(await call('POST', '/admin/reload')).toMatchObject({
      status: 400,
      body: { error: { code: 'BAD_REQUEST' } },
    })
  })
})

describe('a paused tenant', () => {
  it('answers TENANT_PAUSED (503, retryable) when it stays paused past the acquire timeout', async () => {
    const t = await startTestGateway({ pool: { min: 0, acquireTimeoutMs: 200 } })
    try {
      await t.gateway.tenants.get('main')!.pool.pause()
      const { status, body, headers } = await t.json('/v1/query', { sql: 'select 1' })
      expect(status).toBe(503)
      expect(body.error).toMatchObject({ code: 'TENANT_PAUSED', retryable: true })
      expect(headers.get('retry-after')).toBe('1')
    } finally {
      await t.close()
    }
  })
})

describe('the admin API without an admin token configured', () => {
  it('answers FORBIDDEN, saying how to turn it on', async () => {
    const t = await startTestGateway()
    try {
      const res = await t.gateway.app.request('/admin/tenants')
      const body = (await res.json()) as any
      expect(res.status).toBe(403)
      expect(body.error.code).toBe('FORBIDDEN')
      expect(body.error.message).toContain('server.adminToken')
    } finally {
      await t.close()
    }
  })
})
