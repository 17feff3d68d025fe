/**
 * The gateway's Prometheus metrics, in a registry of their own (no global state): pool
 * series (./pool-metrics.ts), connection events, acquire-wait and statement-duration
 * histograms, requests by route and error code, open transactions, config reloads, and
 * optionally Node's process metrics. `docs/operations.md` lists every series.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { PoolEvent } from '../pool/pool-event.js'
import { registerCacheMetrics, type CacheSamples } from './cache-metrics.js'
import { FastCounter, FastHistogram } from './fast-series.js'
import { PoolMetrics } from './pool-metrics.js'

/** Options of {@link createMetrics}. */
export interface MetricsOptions {
  /**
   * Adds Node's process metrics (CPU, memory, event loop lag, GC, file descriptors).
   * @default false: they install process-wide observers, so only the CLI turns them on
   */
  processMetrics?: boolean
  /** Open interactive transactions of a tenant, read at scrape time. */
  openTransactions?: (tenant: string) => number
  /** Tenant names, read at scrape time (for the open-transactions gauge). */
  tenantNames?: () => Iterable<string>
  /** Each cache-enabled tenant's cache counters, read at scrape time. */
  caches?: CacheSamples
}

/** One finished HTTP request, as the request middleware saw it. */
export interface RequestSample {
  /** The matched route pattern (`/v1/query`), or `unmatched`. */
  route: string
  method: string
  status: number
  /** The error code of an error response, or '' for a success. */
  code: string
  /** The tenant the token chose, or '' before authentication. */
  tenant: string
  seconds: number
}

/** One statement's run, as `execute()` reported it. */
export interface StatementSample {
  tenant: string
  seconds: number
  ok: boolean
}

/** The gateway's metrics. */
export interface Metrics {
  readonly registry: Registry
  readonly pools: PoolMetrics
  /** Counts a pool event (connections opened, recycled; acquire waits). */
  poolEvent(tenant: string, event: PoolEvent): void
  /** Counts a finished HTTP request. */
  request(sample: RequestSample): void
  /** Adds a statement's duration. */
  statement(sample: StatementSample): void
  /** Counts a config reload. */
  reload(result: 'ok' | 'invalid'): void
  /** Requests being served now (read at scrape time). */
  readonly inFlight: { inc(): void; dec(): void }
  /** The Prometheus text exposition. */
  render(): Promise<string>
}

// Latency buckets from 1 ms to 30 s: pool waits and statements both span that range.
const SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

/** Builds the metrics in a new registry; tenants' pools are added with `pools.track()`. */
export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry()
  if (options.processMetrics) collectDefaultMetrics({ register: registry })
  const pools = new PoolMetrics(registry)
  const registers = [registry]

  const opened = new Counter({
    name: 'sluice_pool_connections_opened_total',
    help: 'Connections opened successfully',
    labelNames: ['tenant'],
    registers,
  })
  const recycled = new Counter({
    name: 'sluice_pool_connections_recycled_total',
    help: 'Connections closed and replaced, by reason (lifetime, idle, discarded, reset-failed)',
    labelNames: ['tenant', 'reason'],
    registers,
  })
  const healthCheckFailed = new Counter({
    name: 'sluice_pool_health_check_failures_total',
    help: 'Idle connections that failed their health check before use',
    labelNames: ['tenant'],
    registers,
  })
  const heldTooLong = new Counter({
    name: 'sluice_pool_held_too_long_total',
    help: 'Borrows that held a connection past pool.holdWarningMs',
    labelNames: ['tenant'],
    registers,
  })
  const acquireWait = new FastHistogram({
    name: 'sluice_pool_acquire_wait_seconds',
    help: 'Time from asking the pool for a connection to getting one',
    labelNames: ['tenant'],
    buckets: SECONDS_BUCKETS,
    registers,
  })
  const holdDuration = new FastHistogram({
    name: 'sluice_pool_connection_hold_seconds',
    help: 'How long a borrower held a connection; the sum is psycopg_pool usage_ms',
    labelNames: ['tenant'],
    buckets: SECONDS_BUCKETS,
    registers,
  })
  const connectDuration = new Histogram({
    name: 'sluice_pool_connect_duration_seconds',
    help: 'Time to open a connection (TCP, TLS, authentication, startup)',
    labelNames: ['tenant'],
    buckets: SECONDS_BUCKETS,
    registers,
  })
  const statementDuration = new FastHistogram({
    name: 'sluice_statement_duration_seconds',
    help: 'Time PostgreSQL took to run a client statement, by outcome (ok, error)',
    labelNames: ['tenant', 'outcome'],
    buckets: SECONDS_BUCKETS,
    registers,
  })
  const requests = new FastCounter({
    name: 'sluice_http_requests_total',
    help: "HTTP requests by route, method, status, error code ('' on success) and tenant",
    labelNames: ['route', 'method', 'status', 'code', 'tenant'],
    registers,
  })
  const requestDuration = new FastHistogram({
    name: 'sluice_http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by route',
    labelNames: ['route', 'method'],
    buckets: SECONDS_BUCKETS,
    registers,
  })
  let requestsInFlight = 0
  new Gauge({
    name: 'sluice_http_requests_in_flight',
    help: 'HTTP requests being served now',
    registers,
    collect() {
      this.set(requestsInFlight)
    },
  })
  const reloads = new Counter({
    name: 'sluice_config_reloads_total',
    help: 'Config reloads, by result (ok, invalid)',
    labelNames: ['result'],
    registers,
    // With workers a reload is the node's, counted once by the primary (server/cluster/node-config.ts).
    aggregator: 'omit',
  })
  if (options.caches) registerCacheMetrics(registry, options.caches)
  const { openTransactions, tenantNames } = options
  new Gauge({
    name: 'sluice_open_transactions',
    help: 'Interactive transactions open now (each holds a connection)',
    labelNames: ['tenant'],
    registers,
    collect() {
      this.reset()
      if (!openTransactions || !tenantNames) return
      for (const tenant of tenantNames()) this.set({ tenant }, openTransactions(tenant))
    },
  })

  return {
    registry,
    pools,
    inFlight: {
      inc: () => requestsInFlight++,
      dec: () => requestsInFlight--,
    },
    poolEvent(tenant, event) {
      switch (event.type) {
        case 'acquired':
          acquireWait.observe([tenant], event.waitMs / 1000)
          break
        case 'released':
          holdDuration.observe([tenant], event.heldMs / 1000)
          break
        case 'opened':
          opened.inc({ tenant })
          connectDuration.observe({ tenant }, event.ms / 1000)
          break
        case 'recycled':
          recycled.inc({ tenant, reason: event.reason })
          break
        case 'health-check-failed':
          healthCheckFailed.inc({ tenant })
          break
        case 'held-too-long':
          heldTooLong.inc({ tenant })
          break
        default:
          break
      }
    },
    request(sample) {
      const { route, method, seconds } = sample
      requests.inc([route, method, String(sample.status), sample.code, sample.tenant])
      requestDuration.observe([route, method], seconds)
    },
    statement(sample) {
      statementDuration.observe([sample.tenant, sample.ok ? 'ok' : 'error'], sample.seconds)
    },
    reload(result) {
      reloads.inc({ result })
    },
    render: () => registry.metrics(),
  }
}
