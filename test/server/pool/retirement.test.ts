/**
 * A connection the pool retires (past its lifetime, idle too long, a failed health check or
 * reset) closes within a bound: behind a network that stopped answering, PostgreSQL never
 * answers the Terminate, and its socket is dropped rather than held for ever.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { parseConfig } from '../../../server/config/load.js'
import type { ConfigInput } from '../../../server/config/schema.js'
import type { Connection } from '../../../server/pool/connection.js'
import type { PoolEvent } from '../../../server/pool/pool-event.js'
import { createTenant, type Tenant } from '../../../server/tenants/tenant.js'
import { eventually, newToken } from '../../helpers/gateway.js'
import { startTcpProxy, type TcpProxy } from '../../helpers/tcp-proxy.js'

/** A tenant of its own (no gateway) through `proxy`, with every pool event it reports. */
function tenantVia(
  proxy: TcpProxy,
  input: Partial<ConfigInput['tenants'][string]>,
): Tenant & { events: PoolEvent[] } {
  const config = parseConfig(
    {
      tenants: {
        r: {
          // connectTimeoutMs is also the bound of a health check, a reset and a retirement.
          connection: { url: proxy.url, connectTimeoutMs: 1000 },
          tokens: [{ token: newToken() }],
          allowPrivilegedRole: true,
          ...input,
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

/** 'closed' once the connection's socket closed; bounded so that a hang fails with a message. */
function closedOrNot(connection: Connection): Promise<string> {
  return Promise.race([
    connection.ended.then(() => 'closed'),
    new Promise<string>((resolve) => setTimeout(() => resolve('still closing'), 10_000)),
  ])
}

describe('a retired connection behind a network that stopped answering', () => {
  let proxy: TcpProxy
  afterEach(() => proxy?.close())

  it('closes when it sat idle past maxIdleSeconds', async () => {
    proxy = await startTcpProxy()
    const { pool, events } = tenantVia(proxy, { pool: { min: 0, max: 1, maxIdleSeconds: 0.3 } })
    try {
      const connection = await pool.acquire()
      pool.release(connection)
      const link = proxy.links[0]!
      // Its session reset answered: nothing is on its way.
      await eventually(() => pool.resets.size === 0 && link.quiet())
      link.freeze()
      await eventually(() => events.some((e) => e.type === 'recycled' && e.reason === 'idle'))
      expect(await closedOrNot(connection)).toBe('closed')
    } finally {
      await pool.destroy()
    }
  })

  // The check and the reset are still pg's active query when the connection is retired, and
  // pg's end() drops the socket itself then: these two hold that path to the same promise.
  it('closes when it failed its health check', async () => {
    proxy = await startTcpProxy()
    const { pool, events } = tenantVia(proxy, {
      pool: { min: 0, max: 1, healthCheckAfterIdleMs: 0 },
    })
    try {
      const connection = await pool.acquire()
      pool.release(connection)
      const link = proxy.links[0]!
      // Its session reset answered: nothing is on its way.
      await eventually(() => pool.resets.size === 0 && link.quiet())
      link.freeze()
      // The check hears nothing; the borrower gets a new connection.
      const next = await pool.acquire()
      expect(next).not.toBe(connection)
      expect(events).toContainEqual({ type: 'health-check-failed', pid: connection.pid })
      expect(await closedOrNot(connection)).toBe('closed')
      pool.release(next)
    } finally {
      await pool.destroy()
    }
  })

  it('closes when its session reset got no answer', async () => {
    proxy = await startTcpProxy()
    const { pool, events } = tenantVia(proxy, { pool: { min: 0, max: 1 } })
    try {
      const connection = await pool.acquire()
      await connection.simple('select 1')
      proxy.links[0]!.freeze()
      pool.release(connection)
      await eventually(() =>
        events.some((e) => e.type === 'recycled' && e.reason === 'reset-failed'),
      )
      expect(await closedOrNot(connection)).toBe('closed')
    } finally {
      await pool.destroy()
    }
  })
})
