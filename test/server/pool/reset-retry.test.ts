/**
 * A request handed a connection whose session reset then fails waits again for a new one:
 * still one request in the pool's statistics, and still within its one acquireTimeoutMs.
 * The reset fails for real: the backend is terminated while PostgreSQL's word of it is held
 * back on the network, so the gateway sends the reset to a backend that is gone.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { parseConfig } from '../../../server/config/load.js'
import type { ConfigInput } from '../../../server/config/schema.js'
import type { Connection } from '../../../server/pool/connection.js'
import type { PoolEvent } from '../../../server/pool/pool-event.js'
import type { Pool } from '../../../server/pool/pool.js'
import { createTenant, type Tenant } from '../../../server/tenants/tenant.js'
import { admin, eventually, newToken } from '../../helpers/gateway.js'
import { startTcpProxy, type TcpProxy } from '../../helpers/tcp-proxy.js'

/** A tenant of its own (no gateway) through `proxy`, with every pool event it reports. */
function tenantVia(
  proxy: TcpProxy,
  pool: Partial<ConfigInput['tenants'][string]['pool']>,
): Tenant & { events: PoolEvent[] } {
  const config = parseConfig(
    {
      tenants: {
        r: {
          // The reset's own bound (the check timeout), far beyond anything these tests wait.
          connection: { url: proxy.url, connectTimeoutMs: 20_000 },
          tokens: [{ token: newToken() }],
          allowPrivilegedRole: true,
          pool: { min: 0, max: 1, ...pool },
        },
      },
    },
    {},
  )
  const events: PoolEvent[] = []
  const tenant = createTenant('r', config.tenants.r!, {
    onPoolEvent: (_name, event) => events.push(event),
  })
  return { ...tenant, events }
}

/**
 * Terminates `connection`'s backend while the proxy holds back PostgreSQL's FATAL and close:
 * the gateway does not know yet. `fail()` lets them through.
 */
async function doom(proxy: TcpProxy, connection: Connection): Promise<{ fail(): void }> {
  const held = proxy.links[0]!.hold()
  await admin('select pg_terminate_backend($1)', [connection.pid])
  await eventually(
    async () =>
      (await admin('select 1 from pg_stat_activity where pid = $1', [connection.pid])).length === 0,
  )
  return { fail: () => held.release() }
}

/**
 * Returns `connection` to `pool` once a request waits: the pool lends it to that request,
 * which waits for the reset the pool sends it.
 */
async function returnTo(pool: Pool, connection: Connection): Promise<void> {
  await eventually(() => pool.stats().requestsWaiting === 1)
  pool.release(connection)
  expect(pool.resets.has(connection)).toBe(true)
  expect(pool.stats().requestsWaiting).toBe(0)
}

describe('a request whose connection fails its session reset', () => {
  let proxy: TcpProxy
  afterEach(() => proxy?.close())

  it('gets a new connection, and counts as one request queued once', async () => {
    proxy = await startTcpProxy()
    const { pool, events } = tenantVia(proxy, { acquireTimeoutMs: 20_000 })
    try {
      const first = await pool.acquire()
      await first.simple('select 1')
      const doomed = await doom(proxy, first)
      const waiting = pool.acquire()
      await returnTo(pool, first)
      doomed.fail()
      const next = await waiting
      const answer = await next.run({ text: 'select 2', simple: true })
      pool.release(next)
      expect(next).not.toBe(first)
      expect(answer.rows).toEqual([['2']])
      expect(events).toContainEqual({ type: 'recycled', pid: first.pid, reason: 'reset-failed' })
      expect(proxy.links).toHaveLength(2)
      expect(pool.stats()).toMatchObject({ requestsNum: 2, requestsQueued: 2, requestsErrors: 0 })
      // One borrow each in the acquire-wait histogram, the one that waited twice included.
      expect(events.filter((e) => e.type === 'acquired')).toHaveLength(2)
    } finally {
      await pool.destroy()
    }
  })

  it('keeps the deadline it started with: POOL_TIMEOUT once acquireTimeoutMs passed, not a new wait', async () => {
    proxy = await startTcpProxy()
    const { pool } = tenantVia(proxy, { acquireTimeoutMs: 1000 })
    try {
      const first = await pool.acquire()
      await first.simple('select 1')
      const doomed = await doom(proxy, first)
      const waiting = pool.acquire().then(
        (connection) => {
          pool.release(connection)
          return 'lent'
        },
        (error: { code?: string }) => error.code,
      )
      await returnTo(pool, first)
      // A request that came later times out while the first still waits for the reset: the
      // first one's deadline has passed too.
      await expect(pool.acquire()).rejects.toMatchObject({ code: 'POOL_TIMEOUT' })
      doomed.fail()
      expect(await waiting).toBe('POOL_TIMEOUT')
      expect(pool.stats()).toMatchObject({
        requestsNum: 3,
        requestsQueued: 3,
        requestsErrors: 2,
        poolInUse: 0,
      })
      // Nothing is left lent: the next request gets a new connection.
      const next = await pool.acquire()
      expect((await next.run({ text: 'select 3', simple: true })).rows).toEqual([['3']])
      pool.release(next)
    } finally {
      await pool.destroy()
    }
  })
})
