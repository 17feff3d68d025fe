/**
 * Test gateways on the real test database: each gets its own application_name, so its
 * backends can be counted in pg_stat_activity without seeing other test files' pools.
 */
import { randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import pg from 'pg'
import { inject } from 'vitest'
import { parseConfig } from '../../server/config/load.js'
import type { ConfigInput } from '../../server/config/schema.js'
import { createGateway, type Gateway, type GatewayOptions } from '../../server/gateway.js'

type TenantInput = ConfigInput['tenants'][string]

/** A readwrite and a readonly token for the `main` tenant of a test gateway. */
export interface TestGateway {
  gateway: Gateway
  token: string
  readonlyToken: string
  applicationName: string
  /** POSTs JSON (or a raw string) to the in-process app. */
  post(
    path: string,
    body: unknown,
    options?: { token?: string | null; headers?: Record<string, string> },
  ): Promise<Response>
  /** POSTs and parses the JSON answer. */
  json<T = any>(
    path: string,
    body: unknown,
    token?: string,
  ): Promise<{ status: number; body: T; headers: Headers }>
  close(): Promise<void>
}

/** A fresh random token. */
export function newToken(): string {
  return randomBytes(24).toString('base64url')
}

/** The test database URL (or the second database's). */
export function databaseUrl(which: 'main' | 'other' = 'main'): string {
  return which === 'main' ? inject('databaseUrl') : inject('otherDatabaseUrl')
}

/** Builds and starts a gateway with one tenant `main` (plus `extraTenants`). */
export async function startTestGateway(
  tenant: Partial<TenantInput> = {},
  options: GatewayOptions & {
    extraTenants?: Record<string, TenantInput>
    server?: ConfigInput['server']
  } = {},
): Promise<TestGateway> {
  const token = newToken()
  const readonlyToken = newToken()
  const applicationName = `sluice-test-${randomBytes(4).toString('hex')}`
  const config = parseConfig(
    {
      server: options.server ?? {},
      tenants: {
        main: {
          connection: { url: databaseUrl() },
          tokens: [
            { token, role: 'readwrite' },
            { token: readonlyToken, role: 'readonly' },
          ],
          // The test database's user is a superuser; test/server/tenants/privileges.test.ts
          // checks the refusal with roles of its own.
          allowPrivilegedRole: true,
          ...tenant,
          pool: { min: 0, ...tenant.pool },
          session: { applicationName, ...tenant.session },
        },
        ...options.extraTenants,
      },
    },
    {},
  )
  const gateway = createGateway(config, options)
  await gateway.start()
  const post: TestGateway['post'] = async (path, body, opts = {}) => {
    const auth = opts.token === undefined ? token : opts.token
    return gateway.app.request(path, {
      method: 'POST',
      body: typeof body === 'string' ? body : JSON.stringify(body),
      headers: { ...(auth === null ? {} : { Authorization: `Bearer ${auth}` }), ...opts.headers },
    })
  }
  return {
    gateway,
    token,
    readonlyToken,
    applicationName,
    post,
    async json(path, body, tok) {
      const res = await post(path, body, tok === undefined ? {} : { token: tok })
      return { status: res.status, body: (await res.json()) as any, headers: res.headers }
    },
    close: () => gateway.close(1000),
  }
}

/** Runs SQL on a direct (unpooled) admin connection to the test database. */
export async function admin<T extends pg.QueryResultRow = any>(
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: databaseUrl() })
  await client.connect()
  try {
    return (await client.query<T>(sql, params)).rows
  } finally {
    await client.end()
  }
}

/** Backends of a test gateway, from pg_stat_activity. */
export async function backends(applicationName: string): Promise<{ pid: number; state: string }[]> {
  return admin('select pid, state from pg_stat_activity where application_name = $1', [
    applicationName,
  ])
}

/** Polls `check` until it returns true or `timeoutMs` passes. */
export async function eventually(
  check: () => Promise<boolean> | boolean,
  timeoutMs = 10_000,
): Promise<void> {
  const end = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 50))
  }
}

/**
 * Serves `gateway` on 127.0.0.1 on a free port, as `sluice serve` does (its Node listener:
 * the direct `/v1/query` path plus the Hono app). Wait for 'listening' before reading the port.
 */
export function serveGateway(gateway: Gateway): Server {
  return createServer(gateway.listener).on('upgrade', gateway.upgrade).listen(0, '127.0.0.1')
}

/** A test gateway plus its listening URL. */
export interface ListeningGateway extends TestGateway {
  url: string
}

/**
 * Starts a test gateway (see startTestGateway) listening on 127.0.0.1 on a free port, for
 * clients that go over the network; `close()` closes the server too.
 */
export async function listenTestGateway(
  ...args: Parameters<typeof startTestGateway>
): Promise<ListeningGateway> {
  const t = await startTestGateway(...args)
  const server = serveGateway(t.gateway)
  await new Promise((resolve) => server.once('listening', resolve))
  const { port } = server.address() as AddressInfo
  return {
    ...t,
    url: `http://127.0.0.1:${port}`,
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await t.close()
    },
  }
}
