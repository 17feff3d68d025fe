/**
 * A pool whose bounds change while it serves, as a worker's or a node's share of a cluster's
 * budget does when peers come and go: shrinking closes the surplus (idle connections at once,
 * borrowed ones as they come back) and never lets new work exceed the new bound; growing
 * serves waiting requests with new connections.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { backends, eventually, startTestGateway, type TestGateway } from '../../helpers/gateway.js'

describe('a pool resized while it serves', () => {
  let t: TestGateway | undefined
  afterEach(async () => {
    await t?.close()
    t = undefined
  })

  it('shrinks to the new max, closing the surplus as it comes back, then grows again', async () => {
    t = await startTestGateway({ pool: { min: 0, max: 4 } })
    const gateway = t
    const pool = gateway.gateway.tenants.get('main')!.pool
    const load = (n: number, sql = 'select pg_sleep(0.2)') =>
      Promise.all(Array.from({ length: n }, () => gateway.json('/v1/query', { sql })))
    const running = load(4)
    await eventually(async () => (await backends(gateway.applicationName)).length === 4)
    pool.resize({ min: 0, max: 2 })
    expect(pool.maxSize).toBe(2)
    expect((await running).map((a) => a.status)).toEqual([200, 200, 200, 200])
    await eventually(async () => (await backends(gateway.applicationName)).length <= 2)
    let peak = 0
    let done = false
    const watch = (async () => {
      while (!done) peak = Math.max(peak, (await backends(gateway.applicationName)).length)
    })()
    expect((await load(6, 'select pg_sleep(0.05)')).every((a) => a.status === 200)).toBe(true)
    done = true
    await watch
    expect(peak).toBeLessThanOrEqual(2)
    expect(pool.stats()).toMatchObject({ poolMax: 2 })

    const waiting = load(4)
    await eventually(() => pool.stats().requestsWaiting > 0)
    pool.resize({ min: 1, max: 4 })
    expect((await waiting).map((a) => a.status)).toEqual([200, 200, 200, 200])
    await eventually(async () => (await backends(gateway.applicationName)).length >= 3)
  })
})
