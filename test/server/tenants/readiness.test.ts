/**
 * `/readyz` over a listening gateway: a tenant's database that answers is ready, however
 * busy its pool is; and callers, who need no token, share one probe of it at a time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eventually, type ListeningGateway, listenTestGateway } from '../../helpers/gateway.js'
import { startTcpProxy, type TcpProxy } from '../../helpers/tcp-proxy.js'

describe('readiness', () => {
  let t: ListeningGateway
  beforeAll(async () => {
    t = await listenTestGateway({ pool: { min: 0, max: 2 }, transactions: { maxOpenShare: 1 } })
  })
  afterAll(() => t.close())

  const post = async (path: string, body: unknown = {}) =>
    (await fetch(`${t.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.token}` },
      body: JSON.stringify(body),
    }).then((res) => res.json())) as any

  it('counts a pool whose every connection is lent as answering, not as a database down', async () => {
    // Two open transactions hold both connections the pool may open.
    const held = [await post('/v1/transactions'), await post('/v1/transactions')]
    try {
      expect(t.gateway.tenants.get('main')!.pool.stats().poolInUse).toBe(2)
      const res = await fetch(`${t.url}/readyz`)
      expect(await res.json()).toEqual({ status: 'ready', tenants: { main: 'ok' } })
      expect(res.status).toBe(200)
    } finally {
      for (const tx of held) await post(`/v1/transactions/${tx.id}/rollback`)
    }
  })

  it('shares one probe per tenant between concurrent calls, which need no token', async () => {
    const held = [await post('/v1/transactions'), await post('/v1/transactions')]
    try {
      const pool = t.gateway.tenants.get('main')!.pool
      const before = pool.stats().requestsNum
      const first = fetch(`${t.url}/readyz`)
      // The first call's probe now waits for a connection; the others join it.
      await eventually(() => pool.stats().requestsWaiting === 1)
      const others = Array.from({ length: 20 }, () => fetch(`${t.url}/readyz`))
      const statuses = await Promise.all([first, ...others].map(async (r) => (await r).status))
      expect(statuses.every((status) => status === 200)).toBe(true)
      expect(pool.stats().requestsNum - before).toBe(1)
    } finally {
      for (const tx of held) await post(`/v1/transactions/${tx.id}/rollback`)
    }
  })
})

describe('readiness over a database gone silent', () => {
  let proxy: TcpProxy
  let t: ListeningGateway
  beforeAll(async () => {
    proxy = await startTcpProxy()
    // No health check before lending: the probe's own empty query is what meets the silence.
    t = await listenTestGateway({
      connection: { url: proxy.url },
      pool: { min: 0, max: 2, healthCheckAfterIdleMs: 600_000 },
    })
  })
  afterAll(async () => {
    await t.close()
    await proxy.close()
  })

  it('answers 503 unavailable instead of hanging, and gives the silent connection up', async () => {
    const res = await fetch(`${t.url}/v1/query`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.token}` },
      body: JSON.stringify({ sql: 'select 1' }),
    })
    expect(res.status).toBe(200)
    const pool = t.gateway.tenants.get('main')!.pool
    await eventually(() => pool.stats().poolAvailable === 1 && proxy.links.every((l) => l.quiet()))
    for (const link of proxy.links) link.mute()
    // Bounded only so that a hang fails here rather than at the test's timeout.
    const ready = await fetch(`${t.url}/readyz`, { signal: AbortSignal.timeout(20_000) })
    expect(ready.status).toBe(503)
    expect(await ready.json()).toMatchObject({ tenants: { main: 'unavailable' } })
    // The muted connection is not kept lent for ever.
    await eventually(() => pool.stats().poolInUse === 0)
  }, 30_000)
})
