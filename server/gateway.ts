/**
 * The gateway: tenants with their pools, the token index and the HTTP app, from one
 * validated config. `createGateway` opens nothing; `start()` opens the pools' minimum
 * connections and `close()` drains and closes everything.
 */
import type { Hono } from 'hono'
import { createOperations, type Operations, type OperationsOptions } from './admin/operations.js'
import { createApp, type AppDeps } from './http/app.js'
import type { Config } from './config/schema.js'
import type { GatewayEnv } from './http/env.js'
import type { ReportBug } from './http/errors.js'
import { createRequestListener, type RequestListener } from './http/listener.js'
import { Lifecycle } from './lifecycle/lifecycle.js'
import type { Readiness } from './http/routes/health.js'
import type { Tenant } from './tenants/tenant.js'
import { TransactionRegistry } from './engine/transactions.js'

/** Options of {@link createGateway}. */
export interface GatewayOptions extends OperationsOptions {
  reportBug?: AppDeps['reportBug']
  extraRoutes?: AppDeps['extraRoutes']
}

/** A running gateway's handle. */
export interface Gateway {
  readonly config: Config
  readonly app: Hono<GatewayEnv>
  /**
   * The Node request listener to serve: `app`, plus the direct `/v1/query` path that skips
   * Hono for speed (server/http/direct-query.ts). Use it with `http.createServer`.
   */
  readonly listener: RequestListener
  readonly tenants: ReadonlyMap<string, Tenant>
  readonly lifecycle: Lifecycle
  readonly transactions: TransactionRegistry
  /** Logs, metrics, the admin API and config reloads. */
  readonly operations: Operations
  /** Opens each pool's `min` connections (failures are retried in the background). */
  start(): Promise<void>
  /** Each tenant's database answers? */
  readiness(): Promise<Readiness>
  /**
   * Stops: new requests get SHUTTING_DOWN, in-flight ones get `graceMs` to finish, then
   * every connection is closed (statements still running are cancelled with them).
   */
  close(graceMs?: number): Promise<void>
}

const PROBE_TIMEOUT_MS = 2_000

async function probe(tenant: Tenant): Promise<boolean> {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(new Error('probe timeout')), PROBE_TIMEOUT_MS)
  // A paused tenant is held on purpose: its requests wait, they do not fail.
  if (tenant.pool.paused) return true
  try {
    const connection = await tenant.pool.acquire(controller.signal)
    try {
      await connection.simple('')
    } finally {
      tenant.pool.release(connection)
    }
    return true
  } catch (error) {
    // A pool too busy to lend a connection is busy, not down.
    const code = (error as { code?: unknown }).code
    return code === 'POOL_TIMEOUT' || code === 'POOL_QUEUE_FULL'
  } finally {
    clearTimeout(timer)
  }
}

/** Builds a gateway from a validated config. */
export function createGateway(config: Config, options: GatewayOptions = {}): Gateway {
  // The tenant set and token index change on a config reload (server/admin/tenant-set.ts).
  const operations = createOperations(
    config,
    { openTransactions: (tenant) => transactions.count(tenant) },
    options,
  )
  const { tenants, tokens } = operations.tenants
  const lifecycle = new Lifecycle()
  const transactions = new TransactionRegistry()

  const readiness = async (): Promise<Readiness> => {
    const entries = await Promise.all(
      [...tenants.values()].map(
        async (t) => [t.name, (await probe(t)) ? 'ok' : 'unavailable'] as const,
      ),
    )
    const states = Object.fromEntries(entries)
    const ready = !lifecycle.draining && entries.every(([, s]) => s === 'ok')
    return { ready, draining: lifecycle.draining, tenants: states }
  }

  const reportBug: ReportBug =
    options.reportBug ?? ((error) => console.error('sluice: internal error', error))
  const app = createApp({
    tokens,
    tenants,
    lifecycle,
    transactions,
    bodyLimitBytes: config.server.bodyLimitBytes,
    readiness,
    reportBug,
    middleware: operations.middleware,
    extraRoutes: (app) => {
      operations.routes(app)
      options.extraRoutes?.(app)
    },
  })

  let listener: RequestListener | undefined
  let closing: Promise<void> | undefined
  return {
    get config() {
      return operations.tenants.config
    },
    app,
    get listener() {
      listener ??= createRequestListener(app, {
        tokens,
        tenants,
        lifecycle,
        bodyLimitBytes: config.server.bodyLimitBytes,
        requests: operations.requests,
        reportBug,
      })
      return listener
    },
    tenants,
    lifecycle,
    transactions,
    operations,
    async start() {
      await Promise.all([...tenants.values()].map((t) => t.pool.start()))
    },
    readiness,
    close(graceMs = operations.tenants.config.server.shutdownGraceMs) {
      closing ??= (async () => {
        lifecycle.draining = true
        // In-flight requests and open transactions share one grace period; then what is
        // left is rolled back and every connection closes.
        const deadline = Date.now() + graceMs
        const requestsDone = await lifecycle.settled(graceMs)
        const transactionsDone = await transactions.settled(Math.max(0, deadline - Date.now()))
        await transactions.closeAll()
        const finished = requestsDone && transactionsDone
        await Promise.all([
          ...[...tenants.values()].map((t) => (finished ? t.pool.close() : t.pool.destroy())),
          operations.tenants.close(!finished),
        ])
      })()
      return closing
    },
  }
}
