/**
 * How a node's workers' reports of one tenant become the node's: what the admin API answers
 * with workers (the workers test sees the pool side through a real node; this one checks the
 * rules, the query cache's counters included).
 */
import { describe, expect, it } from 'vitest'
import type { TenantReport } from '../../../server/admin/admin.js'
import type { CacheStats } from '../../../server/cache/tenant-cache.js'
import { mergeTenant } from '../../../server/cluster/node-ops.js'
import type { PoolStats } from '../../../server/pool/stats.js'

function cache(n: number, live: boolean): CacheStats {
  return {
    hits: n,
    stale: n,
    misses: n,
    bypasses: n,
    evictions: n,
    invalidations: { tables: n, all: n, tag: n },
    dropped: n,
    entries: n,
    bytes: 100 * n,
    live,
    rejected: { signature: n, replay: 2 * n },
  }
}

function report(worker: number, paused: boolean, live: boolean): TenantReport {
  // Only a few pool counters: the merge treats every key alike but the longest wait.
  const pool = { poolSize: 2 + worker, longestWaitMs: 10 * worker } as unknown as PoolStats
  return {
    name: 'main',
    paused,
    openTransactions: worker,
    drainingPools: 0,
    pool,
    cache: cache(worker + 1, live),
  }
}

describe("a node's tenant report", () => {
  it('adds up its workers, paused and live only where every worker is', () => {
    const merged = mergeTenant([report(1, true, true), report(2, false, true)])
    expect(merged.paused).toBe(false)
    expect(merged.openTransactions).toBe(3)
    expect(merged.pool).toEqual({ poolSize: 7, longestWaitMs: 20 })
    expect(merged.cache).toEqual(cache(5, true))
    expect(mergeTenant([report(1, true, true), report(2, true, false)])).toMatchObject({
      paused: true,
      cache: { live: false },
    })
  })

  it('reports no cache for a tenant without one', () => {
    const { cache: _cache, ...bare } = report(1, false, true)
    expect(mergeTenant<TenantReport>([bare, bare]).cache).toBeUndefined()
  })
})
