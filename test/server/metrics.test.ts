import { readFile } from 'node:fs/promises'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  admin,
  backends,
  databaseUrl,
  eventually,
  newToken,
  serveGateway,
  startTestGateway,
  type TestGateway,
} from '../helpers/gateway.js'

/** One sample of the Prometheus text: `name{labels} value`. */
interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!match) throw new Error(`not a sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const pair of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      labels[pair[1]!] = pair[2]!
    samples.push({ name: match[1]!, labels, value: Number(match[3]) })
  }
  return samples
}

/** The value of the one sample of `name` whose labels include `labels` (0 when absent). */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  )
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match`)
  return found[0]?.value ?? 0
}

async function scrape(t: TestGateway): Promise<Sample[]> {
  const res = await t.gateway.app.request('/metrics')
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toContain('text/plain')
  return parseMetrics(await res.text())
}

describe('GET /metrics', () => {
  let t: TestGateway
  let server: Server
  let base: string
  const downToken = newToken()
  beforeAll(async () => {
    t = await startTestGateway(
      { pool: { min: 2, max: 2 }, transactions: { maxOpenShare: 1 } },
      {
        reportBug: () => {},
        extraRoutes: (app) =>
          app.get('/boom', () => {
            throw new Error('a bug')
          }),
        extraTenants: {
          down: {
            // Nothing listens on port 1: every connection attempt fails.
            allowPrivilegedRole: true,
            connection: {
              url: 'postgres://app:metrics-secret-pw@127.0.0.1:1/app',
              connectTimeoutMs: 500,
            },
            pool: { min: 1, max: 1, acquireTimeoutMs: 2000 },
            tokens: [{ token: downToken }],
          },
        },
      },
    )
    server = serveGateway(t.gateway)
    await new Promise((resolve) => server.once('listening', resolve))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
    await t.close()
  })

  /** POSTs over the socket: `/v1/query` takes the direct path, the rest the Hono app. */
  const overSocket = (path: string, body: unknown, token = t.token, signal?: AbortSignal) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
      ...(signal ? { signal } : {}),
    })

  it('counts requests by route, status, error code and tenant after known traffic', async () => {
    for (let i = 0; i < 3; i++)
      expect((await t.post('/v1/query', { sql: 'select $1::int', params: [i] })).status).toBe(200)
    expect((await t.post('/v1/query', { sql: 'select 1/0' })).status).toBe(400)
    expect((await t.post('/v1/query', { sql: 'select 1' }, { token: null })).status).toBe(401)
    expect((await t.post('/v1/nowhere', {})).status).toBe(404)
    const batch = await t.post('/v1/batch', {
      statements: [{ sql: 'select 1' }, { sql: 'select 2' }],
    })
    expect(batch.status).toBe(200)

    const m = await scrape(t)
    const requests = 'sluice_http_requests_total'
    expect(
      value(m, requests, { route: '/v1/query', status: '200', code: '', tenant: 'main' }),
    ).toBe(3)
    expect(
      value(m, requests, {
        route: '/v1/query',
        status: '400',
        code: 'DATABASE_ERROR',
        tenant: 'main',
      }),
    ).toBe(1)
    expect(
      value(m, requests, { route: '/v1/query', status: '401', code: 'UNAUTHORIZED', tenant: '' }),
    ).toBe(1)
    expect(value(m, requests, { route: 'unmatched', status: '404', code: 'NOT_FOUND' })).toBe(1)
    expect(value(m, requests, { route: '/v1/batch', status: '200', tenant: 'main' })).toBe(1)
    expect(
      value(m, 'sluice_http_request_duration_seconds_count', {
        route: '/v1/query',
        method: 'POST',
      }),
    ).toBe(5)
    // Five statements ran (3 queries and 2 in the batch); one failed in PostgreSQL.
    expect(
      value(m, 'sluice_statement_duration_seconds_count', { tenant: 'main', outcome: 'ok' }),
    ).toBe(5)
    expect(
      value(m, 'sluice_statement_duration_seconds_count', { tenant: 'main', outcome: 'error' }),
    ).toBe(1)
    // Every acquire is in the histogram and in psycopg_pool's requests_num.
    expect(value(m, 'sluice_pool_acquire_wait_seconds_count', { tenant: 'main' })).toBe(5)
    expect(value(m, 'sluice_pool_acquires_total', { tenant: 'main' })).toBe(5)
    // Each connection came back: the hold-time histogram's sum is psycopg_pool's usage_ms.
    expect(value(m, 'sluice_pool_connection_hold_seconds_count', { tenant: 'main' })).toBe(5)
    expect(value(m, 'sluice_pool_connection_hold_seconds_sum', { tenant: 'main' })).toBeGreaterThan(
      0,
    )
  })

  it('reports the pool size, idle and in-use connections, open transactions and waiters', async () => {
    let m = await scrape(t)
    expect(value(m, 'sluice_pool_min_connections', { tenant: 'main' })).toBe(2)
    expect(value(m, 'sluice_pool_max_connections', { tenant: 'main' })).toBe(2)
    expect(value(m, 'sluice_pool_connections', { tenant: 'main' })).toBe(2)
    expect(value(m, 'sluice_pool_idle_connections', { tenant: 'main' })).toBe(2)
    expect(value(m, 'sluice_pool_in_use_connections', { tenant: 'main' })).toBe(0)
    expect(value(m, 'sluice_pool_connections_opened_total', { tenant: 'main' })).toBe(2)

    // Two open transactions hold both connections; a third request has to wait.
    const first = (await t.json('/v1/transactions', {})).body
    const second = (await t.json('/v1/transactions', {})).body
    expect(first.id).toBeTruthy()
    expect(second.id).toBeTruthy()
    const queuedBefore = value(m, 'sluice_pool_acquires_queued_total', { tenant: 'main' })
    const waiting = t.post('/v1/query', { sql: 'select 1' })
    await eventually(() => t.gateway.tenants.get('main')!.pool.stats().requestsWaiting === 1)
    // The wait shows once a millisecond has passed since it began.
    await eventually(
      async () =>
        value(await scrape(t), 'sluice_pool_longest_wait_seconds', { tenant: 'main' }) > 0,
    )
    m = await scrape(t)
    expect(value(m, 'sluice_open_transactions', { tenant: 'main' })).toBe(2)
    expect(value(m, 'sluice_pool_in_use_connections', { tenant: 'main' })).toBe(2)
    expect(value(m, 'sluice_pool_idle_connections', { tenant: 'main' })).toBe(0)
    expect(value(m, 'sluice_pool_waiting_requests', { tenant: 'main' })).toBe(1)
    expect(value(m, 'sluice_pool_longest_wait_seconds', { tenant: 'main' })).toBeGreaterThan(0)

    await t.post(`/v1/transactions/${first.id}/rollback`, {})
    expect((await waiting).status).toBe(200)
    await t.post(`/v1/transactions/${second.id}/commit`, {})
    m = await scrape(t)
    expect(value(m, 'sluice_open_transactions', { tenant: 'main' })).toBe(0)
    expect(value(m, 'sluice_pool_waiting_requests', { tenant: 'main' })).toBe(0)
    expect(value(m, 'sluice_pool_longest_wait_seconds', { tenant: 'main' })).toBe(0)
    expect(value(m, 'sluice_pool_acquires_queued_total', { tenant: 'main' })).toBe(queuedBefore + 1)
    expect(value(m, 'sluice_pool_acquire_wait_seconds_total', { tenant: 'main' })).toBeGreaterThan(
      0,
    )
  })

  it('counts a lost connection and its replacement', async () => {
    const before = await scrape(t)
    const [victim] = await backends(t.applicationName)
    await admin('select pg_terminate_backend($1)', [victim!.pid])
    await eventually(async () => {
      const m = await scrape(t)
      return value(m, 'sluice_pool_connections_lost_total', { tenant: 'main' }) === 1
    })
    // The pool refills to min with a new connection.
    await eventually(async () => {
      const m = await scrape(t)
      return (
        value(m, 'sluice_pool_connections_opened_total', { tenant: 'main' }) ===
          value(before, 'sluice_pool_connections_opened_total', { tenant: 'main' }) + 1 &&
        value(m, 'sluice_pool_connections', { tenant: 'main' }) === 2
      )
    })
    const m = await scrape(t)
    expect(value(m, 'sluice_pool_connections_closed_total', { tenant: 'main' })).toBe(
      value(before, 'sluice_pool_connections_closed_total', { tenant: 'main' }) + 1,
    )
  })

  it('counts failed connection attempts and the requests that got no connection', async () => {
    const res = await t.post('/v1/query', { sql: 'select 1' }, { token: downToken })
    expect(res.status).toBe(503)
    const m = await scrape(t)
    expect(value(m, 'sluice_pool_connections_failed_total', { tenant: 'down' })).toBeGreaterThan(0)
    expect(value(m, 'sluice_pool_connection_attempts_total', { tenant: 'down' })).toBe(
      value(m, 'sluice_pool_connections_failed_total', { tenant: 'down' }),
    )
    expect(value(m, 'sluice_pool_acquire_errors_total', { tenant: 'down' })).toBe(1)
    expect(value(m, 'sluice_pool_connections_opened_total', { tenant: 'down' })).toBe(0)
  })

  it('counts 5xx answers by status and code, on the direct path and in the Hono app', async () => {
    const requests = 'sluice_http_requests_total'
    const before = await scrape(t)
    const timeout = await overSocket('/v1/query', { sql: 'select pg_sleep(5)', timeoutMs: 50 })
    expect(timeout.status).toBe(504)
    const down = await overSocket('/v1/query', { sql: 'select 1' }, downToken)
    expect(down.status).toBe(503)
    const batch = await overSocket('/v1/batch', {
      statements: [{ sql: 'select pg_sleep(5)' }],
      timeoutMs: 50,
    })
    expect(batch.status).toBe(504)
    expect((await t.gateway.app.request('/boom')).status).toBe(500)
    const after = await scrape(t)
    const delta = (labels: Record<string, string>) =>
      value(after, requests, labels) - value(before, requests, labels)
    expect(
      delta({ route: '/v1/query', status: '504', code: 'STATEMENT_TIMEOUT', tenant: 'main' }),
    ).toBe(1)
    expect(
      delta({ route: '/v1/query', status: '503', code: 'DB_UNAVAILABLE', tenant: 'down' }),
    ).toBe(1)
    expect(
      delta({ route: '/v1/batch', status: '504', code: 'STATEMENT_TIMEOUT', tenant: 'main' }),
    ).toBe(1)
    expect(delta({ route: '/boom', status: '500', code: 'INTERNAL' })).toBe(1)
  })

  it('counts the requests in flight: the one running, not the ones done or abandoned', async () => {
    const inFlight = async () => value(await scrape(t), 'sluice_http_requests_in_flight')
    // The scrape itself is in flight while it is served.
    expect(await inFlight()).toBe(1)
    const sleeping = async () =>
      (
        await admin(
          "select count(*)::int as n from pg_stat_activity where application_name = $1 and state = 'active' and query like '%pg_sleep(30)%'",
          [t.applicationName],
        )
      )[0].n
    const controller = new AbortController()
    const abandoned = overSocket(
      '/v1/query',
      { sql: 'select pg_sleep(30)' },
      t.token,
      controller.signal,
    )
    abandoned.catch(() => {})
    // The running request waits for a lock the test holds, until the test lets it go.
    const holder = new pg.Client({ connectionString: databaseUrl() })
    await holder.connect()
    await holder.query('select pg_advisory_lock(4242)')
    const running = overSocket('/v1/batch', {
      statements: [{ sql: 'select pg_advisory_xact_lock(4242)' }],
    })
    try {
      await eventually(async () => (await sleeping()) === 1)
      await eventually(async () => (await inFlight()) === 3)
      controller.abort()
    } finally {
      await holder.end()
    }
    expect((await running).status).toBe(200)
    await eventually(async () => (await sleeping()) === 0)
    // Settled: the abandoned request is counted out too.
    await eventually(async () => (await inFlight()) === 1)
  })

  it('counts a connection returned inside a transaction as a bad return', async () => {
    const bad = async () =>
      value(await scrape(t), 'sluice_pool_bad_returns_total', { tenant: 'main' })
    const before = await bad()
    const pool = t.gateway.tenants.get('main')!.pool
    const connection = await pool.acquire()
    await connection.simple('begin')
    pool.release(connection)
    expect(await bad()).toBe(before + 1)
    const clean = await pool.acquire()
    pool.release(clean)
    expect(await bad()).toBe(before + 1)
  })

  it('never shows a secret', async () => {
    const text = await (await t.gateway.app.request('/metrics')).text()
    expect(text).not.toContain('metrics-secret-pw')
    expect(text).not.toContain(t.token)
    expect(text).not.toContain(downToken)
  })

  it('serves only series that docs/operations.md documents', async () => {
    const res = await fetch(`${base}/metrics`)
    const names = [...(await res.text()).matchAll(/^# HELP (sluice_\w+)/gm)].map((m) => m[1]!)
    expect(names.length).toBeGreaterThan(10)
    const operations = await readFile(new URL('../../docs/operations.md', import.meta.url), 'utf8')
    expect(names.filter((name) => !operations.includes(`\`${name}\``))).toEqual([])
  })
})

describe('GET /metrics with process metrics', () => {
  it('adds the process and Node.js series when asked', async () => {
    const t = await startTestGateway({}, { processMetrics: true })
    try {
      const m = parseMetrics(await (await t.gateway.app.request('/metrics')).text())
      // CPU time counts from when the metrics were set up, so it may still be 0 here.
      expect(m.some((s) => s.name === 'process_cpu_user_seconds_total')).toBe(true)
      expect(value(m, 'process_resident_memory_bytes')).toBeGreaterThan(0)
      expect(m.some((s) => s.name.startsWith('nodejs_eventloop_lag'))).toBe(true)
    } finally {
      await t.close()
    }
  })

  it('requires the admin token when publicMetrics is false', async () => {
    const adminToken = newToken()
    const t = await startTestGateway({}, { server: { adminToken, publicMetrics: false } })
    try {
      expect((await t.gateway.app.request('/metrics')).status).toBe(401)
      const res = await t.gateway.app.request('/metrics', {
        headers: { Authorization: `Bearer ${adminToken}` },
      })
      expect(res.status).toBe(200)
      expect(await res.text()).toContain('sluice_pool_connections')
    } finally {
      await t.close()
    }
  })
})
