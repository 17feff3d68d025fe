import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { parseConfig } from '../../server/config/load.js'
import type { ConfigInput } from '../../server/config/schema.js'
import { createGateway, type Gateway } from '../../server/gateway.js'
import {
  admin,
  backends,
  databaseUrl,
  eventually,
  newToken,
  serveGateway,
} from '../helpers/gateway.js'

const adminToken = newToken()

function appName(): string {
  return `sluice-reload-${randomBytes(4).toString('hex')}`
}

/** A gateway whose "config file" is `file.document`, read on each reload. */
async function reloadableGateway(document: ConfigInput) {
  const file = { document }
  const gateway = createGateway(parseConfig(document, {}), {
    loadConfig: async () => parseConfig(file.document, {}),
  })
  await gateway.start()
  const query = async (token: string, sql: string) =>
    gateway.app.request('/v1/query', {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}` },
      body: JSON.stringify({ sql }),
    })
  const reload = async () => {
    const res = await gateway.app.request('/admin/reload', {
      method: 'POST',
      headers: { Authorization: `Bearer ${adminToken}` },
    })
    return { status: res.status, body: (await res.json()) as any }
  }
  return { gateway, file, query, reload }
}

function tenant(applicationName: string, token: string, pool: { min: number; max: number }) {
  return {
    allowPrivilegedRole: true,
    connection: { url: databaseUrl() },
    pool,
    tokens: [{ token }],
    session: { applicationName },
  }
}

let gateway: Gateway | undefined
afterEach(async () => {
  await gateway?.close(1000)
  gateway = undefined
})

describe('config reload', () => {
  it('adds, replaces and removes tenants under load without failing a request', async () => {
    const mainToken = newToken()
    const goneToken = newToken()
    const addedToken = newToken()
    const mainApp = appName()
    const goneApp = appName()
    const g = await reloadableGateway({
      server: { adminToken },
      tenants: {
        main: tenant(mainApp, mainToken, { min: 2, max: 3 }),
        gone: tenant(goneApp, goneToken, { min: 1, max: 2 }),
      },
    })
    gateway = g.gateway
    expect(await backends(mainApp)).toHaveLength(2)

    // Load: 6 workers send queries to `main` until told to stop.
    let stop = false
    const statuses: number[] = []
    const failures: string[] = []
    const worker = async () => {
      while (!stop) {
        const res = await g.query(mainToken, 'select pg_sleep(0.01), 1 as n')
        statuses.push(res.status)
        if (res.status !== 200) failures.push(`${res.status} ${await res.text()}`)
      }
    }
    const workers = Array.from({ length: 6 }, worker)
    try {
      await eventually(() => statuses.length >= 30)

      // Work in flight on the tenant about to be removed, and an open transaction on the
      // pool about to be replaced.
      const slowOnGone = g.query(goneToken, 'select pg_sleep(0.4), 1 as n')
      const begin = await g.gateway.app.request('/v1/transactions', {
        method: 'POST',
        headers: { Authorization: `Bearer ${mainToken}` },
        body: '{}',
      })
      const tx = (await begin.json()) as any
      expect(begin.status).toBe(201)

      const newMainApp = appName()
      g.file.document = {
        server: { adminToken },
        tenants: {
          main: tenant(newMainApp, mainToken, { min: 2, max: 4 }),
          added: tenant(appName(), addedToken, { min: 1, max: 1 }),
        },
      }
      const { status, body } = await g.reload()
      expect(status).toBe(200)
      expect(body).toMatchObject({
        added: ['added'],
        removed: ['gone'],
        replaced: ['main'],
        updated: [],
        unchanged: [],
        restartNeeded: [],
      })
      // The added tenant was started before its token was accepted.
      expect((await g.query(addedToken, 'select 1')).status).toBe(200)
      // The removed tenant's token is refused now, but its in-flight statement finished.
      expect((await g.query(goneToken, 'select 1')).status).toBe(401)
      expect((await slowOnGone).status).toBe(200)
      // The transaction opened on the old pool carries on there, and commits.
      const inTx = await g.gateway.app.request(`/v1/transactions/${tx.id}/query`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${mainToken}` },
        body: JSON.stringify({ sql: 'select 1' }),
      })
      expect(inTx.status).toBe(200)
      const count = statuses.length
      await eventually(() => statuses.length >= count + 30)
      expect(await backends(mainApp)).not.toHaveLength(0)
      const commit = await g.gateway.app.request(`/v1/transactions/${tx.id}/commit`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${mainToken}` },
        body: '{}',
      })
      expect(commit.status).toBe(200)

      // Drained: the old pools close, the new one serves.
      await eventually(async () => (await backends(goneApp)).length === 0)
      await eventually(async () => (await backends(mainApp)).length === 0)
      expect((await backends(newMainApp)).length).toBeGreaterThanOrEqual(2)
    } finally {
      stop = true
      await Promise.all(workers)
    }
    expect(failures).toEqual([])
    expect(statuses.length).toBeGreaterThan(60)
    expect(statuses.every((s) => s === 200)).toBe(true)
    expect(g.gateway.tenants.get('main')!.config.pool.max).toBe(4)
    expect(g.gateway.config.tenants.gone).toBeUndefined()

    // The old pool's counters stay in the metrics: they never go back down.
    const metrics = await (await g.gateway.app.request('/metrics')).text()
    const acquires = /sluice_pool_acquires_total\{tenant="main"\} (\d+)/.exec(metrics)
    expect(Number(acquires![1])).toBeGreaterThanOrEqual(statuses.length)
    // The removed tenant's pool series are gone (its event counters stay until a restart).
    expect(metrics).not.toContain('sluice_pool_connections{tenant="gone"}')
    expect(metrics).not.toContain('sluice_pool_acquires_total{tenant="gone"}')
  })

  it('keeps the pool when only tokens or limits change, and swaps the tokens at once', async () => {
    const oldToken = newToken()
    const newTokenValue = newToken()
    const app = appName()
    const g = await reloadableGateway({
      server: { adminToken },
      tenants: { main: tenant(app, oldToken, { min: 1, max: 2 }) },
    })
    gateway = g.gateway
    const pool = g.gateway.tenants.get('main')!.pool
    const [before] = await backends(app)
    g.file.document = {
      server: {
        adminToken,
        port: 9999,
        pgPort: 9998,
        pgTls: { certFile: '/etc/sluice/cert.pem', keyFile: '/etc/sluice/key.pem' },
      },
      tenants: {
        main: { ...tenant(app, newTokenValue, { min: 1, max: 2 }), maxRows: 1 },
      },
    }
    const { body } = await g.reload()
    expect(body).toMatchObject({
      updated: ['main'],
      replaced: [],
      restartNeeded: ['server.port', 'server.pgPort', 'server.pgTls'],
    })
    expect(g.gateway.tenants.get('main')!.pool).toBe(pool)
    expect((await g.query(oldToken, 'select 1')).status).toBe(401)
    expect(await backends(app)).toEqual([expect.objectContaining({ pid: before!.pid })])
    // The new limit applies: two rows are over maxRows 1 (the statement is stopped, and its
    // connection with it).
    const res = await g.query(newTokenValue, 'select generate_series(1, 2)')
    expect(res.status).toBe(413)
  })

  it('replaces the pool when a limit its connections start with changes, so PostgreSQL enforces the new one', async () => {
    const token = newToken()
    const app = appName()
    const limits = (statementTimeoutMs: number, maxIdleTimeoutMs: number) => ({
      server: { adminToken },
      tenants: {
        main: {
          ...tenant(app, token, { min: 1, max: 2 }),
          statementTimeoutMs,
          transactions: { maxIdleTimeoutMs },
        },
      },
    })
    const g = await reloadableGateway(limits(1000, 20_000))
    gateway = g.gateway
    const settings = async () => {
      const res = await g.query(
        token,
        "select current_setting('statement_timeout') as statement, current_setting('idle_in_transaction_session_timeout') as idle",
      )
      return ((await res.json()) as any).rows[0]
    }
    expect(await settings()).toEqual(['1s', '25s'])
    g.file.document = limits(120_000, 20_000)
    expect((await g.reload()).body.replaced).toEqual(['main'])
    expect(await settings()).toEqual(['2min', '25s'])
    g.file.document = limits(120_000, 55_000)
    expect((await g.reload()).body.replaced).toEqual(['main'])
    expect(await settings()).toEqual(['2min', '1min'])
    g.file.document = { ...limits(120_000, 55_000) }
    g.file.document.tenants!.main!.allowPrivilegedRole = false
    expect((await g.reload()).body.replaced).toEqual(['main'])
  })

  it('refuses an invalid config with the reasons, and the old config keeps serving', async () => {
    const token = newToken()
    const g = await reloadableGateway({
      server: { adminToken },
      tenants: { main: tenant(appName(), token, { min: 1, max: 2 }) },
    })
    gateway = g.gateway
    const before = g.gateway.config
    g.file.document = {
      server: { adminToken },
      tenants: {
        main: tenant(appName(), token, { min: 5, max: 2 }),
        'Bad Name': tenant(appName(), newToken(), { min: 0, max: 1 }),
      },
    }
    const { status, body } = await g.reload()
    expect(status).toBe(400)
    expect(body.error).toMatchObject({ code: 'BAD_REQUEST', retryable: false })
    expect(body.problems.join('\n')).toContain('tenants.Bad Name')
    expect(g.gateway.config).toBe(before)
    expect((await g.query(token, 'select 1')).status).toBe(200)
    const metrics = await (await g.gateway.app.request('/metrics')).text()
    expect(metrics).toContain('sluice_config_reloads_total{result="invalid"} 1')

    // Fixed, the same file reloads.
    g.file.document = {
      server: { adminToken },
      tenants: { main: tenant(appName(), token, { min: 1, max: 3 }) },
    }
    expect((await g.reload()).body.replaced).toEqual(['main'])
    expect((await g.query(token, 'select 1')).status).toBe(200)
  })

  it('keeps a paused tenant paused when its pool is replaced', async () => {
    const token = newToken()
    const g = await reloadableGateway({
      server: { adminToken },
      tenants: { main: tenant(appName(), token, { min: 0, max: 2 }) },
    })
    gateway = g.gateway
    await g.gateway.tenants.get('main')!.pool.pause()
    g.file.document = {
      server: { adminToken },
      tenants: { main: tenant(appName(), token, { min: 0, max: 3 }) },
    }
    expect((await g.reload()).body.replaced).toEqual(['main'])
    expect(g.gateway.tenants.get('main')!.pool.paused).toBe(true)
  })
})

describe('config reload and open transactions', () => {
  it("ends a token's open transaction once a reload takes its write access or moves it to another tenant", async () => {
    const token = newToken()
    const app = appName()
    const withToken = (role: 'readwrite' | 'readonly', where: 'main' | 'other') => ({
      server: { adminToken },
      tenants: {
        main: { ...tenant(app, newToken(), { min: 0, max: 2 }) },
        other: {
          ...tenant(appName(), newToken(), { min: 0, max: 2 }),
          connection: { url: databaseUrl('other') },
        },
        [where]: {
          ...tenant(where === 'main' ? app : appName(), newToken(), { min: 0, max: 2 }),
          ...(where === 'other' ? { connection: { url: databaseUrl('other') } } : {}),
          tokens: [{ token, role }],
        },
      },
    })
    const g = await reloadableGateway(withToken('readwrite', 'main'))
    gateway = g.gateway
    const server = serveGateway(g.gateway)
    await new Promise((resolve) => server.once('listening', resolve))
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const post = async (path: string, body: unknown) => {
      const res = await fetch(base + path, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}` },
        body: JSON.stringify(body),
      })
      return { status: res.status, body: (await res.json()) as any }
    }
    try {
      await admin('create table if not exists reload_tx_probe (id int)')
      await admin('truncate reload_tx_probe')
      for (const [role, where] of [
        ['readonly', 'main'],
        ['readwrite', 'other'],
      ] as const) {
        g.file.document = withToken('readwrite', 'main')
        expect((await g.reload()).status).toBe(200)
        const begin = await post('/v1/transactions', {})
        expect(begin.status).toBe(201)
        const id = begin.body.id as string
        expect((await post(`/v1/transactions/${id}/query`, { sql: 'select 1' })).status).toBe(200)
        g.file.document = withToken(role, where)
        expect((await g.reload()).status).toBe(200)
        // The token may no longer write to main's database: its transaction there is over.
        const insert = await post(`/v1/transactions/${id}/query`, {
          sql: 'insert into reload_tx_probe values (1)',
        })
        expect(insert.status, `${role} in ${where}`).toBe(404)
        expect(insert.body.error.code).toBe('TX_NOT_FOUND')
        expect(insert.body.error.message).toContain('reload')
        const commit = await post(`/v1/transactions/${id}/commit`, {})
        expect(commit.status).toBe(404)
        await eventually(() => g.gateway.transactions.count() === 0)
      }
      expect(await admin('select * from reload_tx_probe')).toEqual([])
    } finally {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    }
  })
})
