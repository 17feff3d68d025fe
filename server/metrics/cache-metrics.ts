/**
 * The query cache's series (docs/cache.md), read from each tenant cache's counters at scrape
 * time. A cache starts from zero when a reload replaces it; Prometheus reads that as a
 * counter reset.
 */
import { Counter, Gauge, type Registry } from 'prom-client'

/** What a tenant cache reports (server/cache/tenant-cache.ts `stats()`). */
export interface CacheSample {
  hits: number
  stale: number
  misses: number
  bypasses: number
  evictions: number
  invalidations: { tables: number; all: number; tag: number }
  dropped: number
  entries: number
  bytes: number
  live: boolean
  rejected: { signature: number; replay: number }
}

/** Every tenant's cache counters now, by tenant name. */
export type CacheSamples = () => Iterable<[string, CacheSample]>

/** Registers the cache series in `registry`. */
export function registerCacheMetrics(registry: Registry, samples: CacheSamples): void {
  const registers = [registry]
  new Counter({
    name: 'sluice_cache_requests_total',
    help: 'Reads that asked for the cache, by result (hit, stale, miss, bypass)',
    labelNames: ['tenant', 'result'],
    registers,
    collect() {
      this.reset()
      for (const [tenant, s] of samples()) {
        this.inc({ tenant, result: 'hit' }, s.hits)
        this.inc({ tenant, result: 'stale' }, s.stale)
        this.inc({ tenant, result: 'miss' }, s.misses)
        this.inc({ tenant, result: 'bypass' }, s.bypasses)
      }
    },
  })
  new Counter({
    name: 'sluice_cache_evictions_total',
    help: 'Entries evicted to stay within cache.maxBytes',
    labelNames: ['tenant'],
    registers,
    collect() {
      this.reset()
      for (const [tenant, s] of samples()) this.inc({ tenant }, s.evictions)
    },
  })
  new Counter({
    name: 'sluice_cache_invalidations_total',
    help: 'Invalidations applied, by cause (tables: a write named them; all: a write Sluice could not prove, DDL, a gap or a purge; tag: a purge by tag)',
    labelNames: ['tenant', 'cause'],
    registers,
    collect() {
      this.reset()
      for (const [tenant, s] of samples()) {
        this.inc({ tenant, cause: 'tables' }, s.invalidations.tables)
        this.inc({ tenant, cause: 'all' }, s.invalidations.all)
        this.inc({ tenant, cause: 'tag' }, s.invalidations.tag)
      }
    },
  })
  new Counter({
    name: 'sluice_cache_entries_dropped_total',
    help: 'Entries dropped by invalidations and purges',
    labelNames: ['tenant'],
    registers,
    collect() {
      this.reset()
      for (const [tenant, s] of samples()) this.inc({ tenant }, s.dropped)
    },
  })
  new Counter({
    name: 'sluice_cache_messages_rejected_total',
    help: 'Invalidation channel messages ignored, by reason (signature: not signed with this deployment key, replay: a genuine tick sent again)',
    labelNames: ['tenant', 'reason'],
    registers,
    collect() {
      this.reset()
      for (const [tenant, s] of samples()) {
        this.inc({ tenant, reason: 'signature' }, s.rejected.signature)
        this.inc({ tenant, reason: 'replay' }, s.rejected.replay)
      }
    },
  })
  const gauge = (
    name: string,
    help: string,
    pick: (s: CacheSample) => number,
    // How a node's workers combine in /metrics (prom-client's cluster aggregation).
    aggregator: 'sum' | 'min' = 'sum',
  ) =>
    new Gauge({
      name,
      help,
      labelNames: ['tenant'],
      registers,
      aggregator,
      collect() {
        this.reset()
        for (const [tenant, s] of samples()) this.set({ tenant }, pick(s))
      },
    })
  gauge('sluice_cache_entries', 'Entries in the cache', (s) => s.entries)
  gauge(
    'sluice_cache_bytes',
    'Bytes the entries are counted for (bodies, keys, bookkeeping)',
    (s) => s.bytes,
  )
  gauge(
    'sluice_cache_live',
    '1 while hits may be served (the invalidation channel is up and its lease fresh)',
    (s) => (s.live ? 1 : 0),
    'min',
  )
}
