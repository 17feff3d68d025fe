import type { AddressInfo } from 'node:net'
import type { Server as ServerType } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  admin,
  eventually,
  serveGateway,
  startTestGateway,
  type TestGateway,
} from '../helpers/gateway.js'
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js'

describe('cancellation', () => {
  let t: TestGateway
  let server: ServerType
  let base: string
  beforeAll(async () => {
    t = await startTestGateway({ pool: { min: 1, max: 2 } })
    server = serveGateway(t.gateway)
    await new Promise((r) => server.once('listening', r))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    server.close()
    await t.close()
  })

  const sleeping = async () =>
    admin(
      "select pid, state from pg_stat_activity where application_name = $1 and query like '%pg_sleep(30)%' and state = 'active'",
      [t.applicationName],
    )

  it('cancels the running statement in PostgreSQL when the HTTP client disconnects', async () => {
    const pool = t.gateway.tenants.get('main')!.pool
    const controller = new AbortController()
    const request = fetch(`${base}/v1/query`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${t.token}` },
      body: JSON.stringify({ sql: 'select pg_sleep(30)' }),
      signal: controller.signal,
    }).catch((error: unknown) => error)
    await eventually(async () => (await sleeping()).length === 1)
    controller.abort()
    expect(await request).toBeInstanceOf(Error)
    // The backend stops sleeping (a real cancel), and the pool gets back to idle.
    await eventually(async () => (await sleeping()).length === 0)
    await eventually(() => pool.stats().poolInUse === 0)
    expect((await t.json('/v1/query', { sql: 'select 1' })).status).toBe(200)
  })

  it('cancels an in-process request whose signal aborts', async () => {
    const controller = new AbortController()
    const request = Promise.resolve(
      t.gateway.app.request('/v1/query', {
        method: 'POST',
        headers: { Authorization: `Bearer ${t.token}` },
        body: JSON.stringify({ sql: 'select pg_sleep(30)' }),
        signal: controller.signal,
      }),
    ).catch((error: unknown) => error)
    await eventually(async () => (await sleeping()).length === 1)
    controller.abort()
    await request
    await eventually(async () => (await sleeping()).length === 0)
    await eventually(() => t.gateway.tenants.get('main')!.pool.stats().poolInUse === 0)
  })

  it('never lets a cancel reach the next request: a cancelled connection is replaced', async () => {
    const pool = t.gateway.tenants.get('main')!.pool
    const closedBefore = pool.stats().connectionsClosed
    const { status } = await t.json('/v1/query', { sql: 'select pg_sleep(30)', timeoutMs: 100 })
    expect(status).toBe(504)
    await eventually(() => pool.stats().connectionsClosed === closedBefore + 1)
    for (let i = 0; i < 5; i++)
      expect((await t.json('/v1/query', { sql: 'select pg_sleep(0.01)' })).status).toBe(200)
  })
})

// A cancel request that never reaches PostgreSQL (lost on the way, or sent while no statement
// runs, which cancels nothing): the gateway's deadline still holds, between statements.
describe('cancellation when the cancel request is lost', () => {
  let proxy: TcpProxy
  let t: TestGateway
  beforeAll(async () => {
    proxy = await startTcpProxy({ dropCancels: true })
    t = await startTestGateway({ connection: { url: proxy.url }, pool: { min: 0, max: 1 } })
  })
  afterAll(async () => {
    await t.close()
    await proxy.close()
  })

  it('stops a batch at its deadline before its next statement, and discards the connection', async () => {
    const pool = t.gateway.tenants.get('main')!.pool
    const { status, body } = await t.json('/v1/batch', {
      statements: Array.from({ length: 20 }, () => ({ sql: 'select pg_sleep(0.05)' })),
      timeoutMs: 200,
    })
    expect(status).toBe(504)
    expect(body.error.code).toBe('STATEMENT_TIMEOUT')
    expect(body.error.statementIndex).toBeGreaterThan(0)
    expect(body.error.statementIndex).toBeLessThan(20)
    // The cancel went out (and was lost): the connection is never lent again.
    expect(proxy.links.some((link) => link.sent().length === 16)).toBe(true)
    expect(pool.stats().connectionsClosed).toBe(1)
  })
})
