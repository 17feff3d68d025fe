/**
 * Pool statistics as Prometheus series, read from each pool's `stats()` at scrape time.
 * A tenant may have more than one pool for a while (a reload replaces a pool while the old
 * one drains), so the series sum every pool tracked for the tenant, and a retired pool's
 * counters are carried over: counters never go back down.
 */
import { Counter, Gauge, type Registry } from 'prom-client'
import type { Pool } from '../pool/pool.js'
import type { PoolStats } from '../pool/stats.js'

type CounterKey = {
  [K in keyof PoolStats]: PoolStats[K] extends number ? K : never
}[keyof PoolStats]

/** Each psycopg_pool counter, as a Prometheus counter (docs/operations.md maps them). */
const COUNTERS: readonly { key: CounterKey; name: string; help: string; scale?: number }[] = [
  {
    key: 'requestsNum',
    name: 'sluice_pool_acquires_total',
    help: 'Connection requests (psycopg_pool requests_num)',
  },
  {
    key: 'requestsQueued',
    name: 'sluice_pool_acquires_queued_total',
    help: 'Connection requests that had to wait (requests_queued)',
  },
  {
    key: 'requestsWaitMs',
    name: 'sluice_pool_acquire_wait_seconds_total',
    help: 'Total time requests waited for a connection (requests_wait_ms)',
    scale: 1 / 1000,
  },
  {
    key: 'requestsErrors',
    name: 'sluice_pool_acquire_errors_total',
    help: 'Requests that got no connection: timeout, queue full, database down (requests_errors)',
  },
  {
    key: 'returnsBad',
    name: 'sluice_pool_bad_returns_total',
    help: 'Connections returned broken or inside a transaction (returns_bad)',
  },
  {
    key: 'connectionsNum',
    name: 'sluice_pool_connection_attempts_total',
    help: 'Connection attempts (connections_num)',
  },
  {
    key: 'connectionsMs',
    name: 'sluice_pool_connect_seconds_total',
    help: 'Total time spent opening connections (connections_ms)',
    scale: 1 / 1000,
  },
  {
    key: 'connectionsErrors',
    name: 'sluice_pool_connections_failed_total',
    help: 'Failed connection attempts (connections_errors)',
  },
  {
    key: 'connectionsLost',
    name: 'sluice_pool_connections_lost_total',
    help: 'Connections found broken while idle or by a health check (connections_lost)',
  },
  {
    key: 'connectionsClosed',
    name: 'sluice_pool_connections_closed_total',
    help: 'Connections closed by the pool: lifetime, idleness, discard, pause',
  },
  {
    key: 'sessionResets',
    name: 'sluice_pool_session_resets_total',
    help: 'Sessions reset before reuse (one per borrow)',
  },
]

/** Each current-state figure, as a gauge. `pick` sums over a tenant's pools. */
const GAUGES: readonly {
  name: string
  help: string
  pick: (stats: PoolStats, pool: Pool) => number
  /** Taken from the tenant's current pool only (configuration, not load). */
  currentOnly?: boolean
  /** How a node's workers' values combine (prom-client's cluster aggregation). @default sum */
  aggregator?: 'max' | 'min'
}[] = [
  {
    name: 'sluice_pool_min_connections',
    help: 'Configured minimum (psycopg_pool pool_min)',
    pick: (s) => s.poolMin,
    currentOnly: true,
  },
  {
    name: 'sluice_pool_max_connections',
    help: 'Configured maximum (pool_max)',
    pick: (s) => s.poolMax,
    currentOnly: true,
  },
  {
    name: 'sluice_pool_connections',
    help: 'Connections open or being opened (pool_size)',
    pick: (s) => s.poolSize,
  },
  {
    name: 'sluice_pool_idle_connections',
    help: 'Idle connections ready to lend (pool_available)',
    pick: (s) => s.poolAvailable,
  },
  {
    name: 'sluice_pool_in_use_connections',
    help: 'Connections lent to requests and open transactions',
    pick: (s) => s.poolInUse,
  },
  {
    name: 'sluice_pool_waiting_requests',
    help: 'Requests waiting for a connection now (requests_waiting)',
    pick: (s) => s.requestsWaiting,
  },
  {
    name: 'sluice_pool_longest_wait_seconds',
    help: 'How long the oldest waiting request has waited',
    pick: (s) => s.longestWaitMs / 1000,
    aggregator: 'max',
  },
  {
    name: 'sluice_pool_paused',
    help: '1 while an operator has paused the tenant (admin API)',
    pick: (_s, pool) => (pool.paused ? 1 : 0),
    currentOnly: true,
    // Paused on the node when paused in every worker.
    aggregator: 'min',
  },
]

interface Tracked {
  /** Every live pool of the tenant; the last one is the current. */
  pools: Pool[]
  /** Counters of pools already closed. */
  carried: Partial<Record<CounterKey, number>>
}

/** Which pools belong to which tenant, for the pool series. */
export class PoolMetrics {
  private readonly tenants = new Map<string, Tracked>()

  /** Registers the pool series in `registry`. */
  constructor(registry: Registry) {
    for (const spec of GAUGES) {
      const tenants = this.tenants
      new Gauge({
        name: spec.name,
        help: spec.help,
        labelNames: ['tenant'],
        registers: [registry],
        ...(spec.aggregator ? { aggregator: spec.aggregator } : {}),
        collect() {
          this.reset()
          for (const [tenant, tracked] of tenants) {
            const pools = spec.currentOnly ? tracked.pools.slice(-1) : tracked.pools
            if (pools.length === 0) continue
            let value = 0
            for (const pool of pools) value += spec.pick(pool.stats(), pool)
            this.set({ tenant }, value)
          }
        },
      })
    }
    for (const spec of COUNTERS) {
      const tenants = this.tenants
      new Counter({
        name: spec.name,
        help: spec.help,
        labelNames: ['tenant'],
        registers: [registry],
        collect() {
          this.reset()
          for (const [tenant, tracked] of tenants) {
            let value = tracked.carried[spec.key] ?? 0
            for (const pool of tracked.pools) value += pool.stats()[spec.key]
            this.inc({ tenant }, value * (spec.scale ?? 1))
          }
        },
      })
    }
  }

  /** Starts reporting `pool` under `tenant` (it becomes the tenant's current pool). */
  track(tenant: string, pool: Pool): void {
    let tracked = this.tenants.get(tenant)
    if (!tracked) {
      tracked = { pools: [], carried: {} }
      this.tenants.set(tenant, tracked)
    }
    tracked.pools.push(pool)
  }

  /**
   * Stops reporting a closed pool. Its counters are kept in the tenant's totals, unless
   * `forget` (the tenant is gone), which drops the tenant's series once no pool is left.
   */
  untrack(tenant: string, pool: Pool, options: { forget?: boolean } = {}): void {
    const tracked = this.tenants.get(tenant)
    if (!tracked) return
    const index = tracked.pools.indexOf(pool)
    if (index < 0) return
    tracked.pools.splice(index, 1)
    if (options.forget) {
      if (tracked.pools.length === 0) this.tenants.delete(tenant)
      return
    }
    const stats = pool.stats()
    for (const { key } of COUNTERS) tracked.carried[key] = (tracked.carried[key] ?? 0) + stats[key]
  }
}
