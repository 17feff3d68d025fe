/**
 * The admin operations one gateway process runs for its node, whoever asked (an operator
 * through any worker, or a peer node), their answers, and errors carried as plain data
 * across the primary's IPC channel and rebuilt on the other side.
 */
import { SluiceError, isErrorCode, isSluiceError } from '../../src/errors.js'
import type { Admin, TenantReport } from '../admin/admin.js'
import { ConfigError } from '../config/load.js'
import type { CacheStats } from '../cache/tenant-cache.js'
import type { PoolStats } from '../pool/stats.js'
import type { ReloadReport } from '../tenants/tenant-set.js'

/** An operation every worker of a node runs. */
export type NodeOp =
  | { op: 'tenants' }
  | { op: 'tenant'; name: string }
  | { op: 'pause'; name: string; waitMs: number }
  | { op: 'resume'; name: string }

/** An error as data. */
export interface PlainError {
  message: string
  code?: string
  problems?: string[]
}

/** One worker's answer to an operation. */
export type WorkerAnswer =
  { worker: number; ok: true; value: unknown } | { worker: number; ok: false; error: PlainError }

/** What runs a node's operations: in every worker, and the node's config reload. */
export interface NodeChannel {
  /** Runs `op` in every worker of this node, this one included; one answer each. */
  broadcast(op: NodeOp): Promise<WorkerAnswer[]>
  /** Reads the node's config file again and applies it in every worker. */
  reload(): Promise<ReloadReport>
  /** The node's metrics, every worker's aggregated; absent: this process's own. */
  metrics?: () => Promise<string>
}

/** Runs `op` on this process's own gateway. */
export async function runLocal(admin: Admin, op: NodeOp): Promise<unknown> {
  switch (op.op) {
    case 'tenants':
      return admin.tenants()
    case 'tenant':
      return admin.tenant(op.name)
    case 'pause':
      return admin.pause(op.name, op.waitMs)
    case 'resume':
      return admin.resume(op.name)
  }
}

/** An error as data, keeping what the other side needs to rebuild it. */
export function toPlainError(error: unknown): PlainError {
  if (error instanceof ConfigError) return { message: error.message, problems: error.problems }
  if (isSluiceError(error)) return { message: error.message, code: error.code }
  return { message: error instanceof Error ? error.message : String(error) }
}

/** The error a {@link PlainError} stands for. */
export function fromPlainError(plain: PlainError): Error {
  if (plain.problems) return new ConfigError(plain.problems)
  if (isErrorCode(plain.code)) return new SluiceError(plain.code, plain.message)
  return new Error(plain.message)
}

/** Several processes' statistics of one pool as one: counts add up, waits take the longest. */
export function mergeStats(all: readonly PoolStats[]): PoolStats {
  const merged = { ...all[0]! }
  for (const stats of all.slice(1)) {
    for (const key of Object.keys(merged) as (keyof PoolStats)[]) {
      merged[key] =
        key === 'longestWaitMs' ? Math.max(merged[key], stats[key]) : merged[key] + stats[key]
    }
  }
  return merged
}

/** Several processes' cache counters as one: counts add up; live only where live everywhere. */
export function mergeCacheStats(all: readonly CacheStats[]): CacheStats {
  const sum = (pick: (stats: CacheStats) => number) => all.reduce((n, s) => n + pick(s), 0)
  return {
    hits: sum((s) => s.hits),
    stale: sum((s) => s.stale),
    misses: sum((s) => s.misses),
    bypasses: sum((s) => s.bypasses),
    evictions: sum((s) => s.evictions),
    invalidations: {
      tables: sum((s) => s.invalidations.tables),
      all: sum((s) => s.invalidations.all),
      tag: sum((s) => s.invalidations.tag),
    },
    dropped: sum((s) => s.dropped),
    entries: sum((s) => s.entries),
    bytes: sum((s) => s.bytes),
    live: all.every((s) => s.live),
    rejected: {
      signature: sum((s) => s.rejected.signature),
      replay: sum((s) => s.rejected.replay),
    },
  }
}

/** Several processes' reports of one tenant as one; paused only when paused everywhere. */
export function mergeTenant<T extends TenantReport>(reports: readonly T[]): T {
  const first = reports[0]!
  const merged: T = {
    ...first,
    paused: reports.every((r) => r.paused),
    openTransactions: reports.reduce((sum, r) => sum + r.openTransactions, 0),
    drainingPools: reports.reduce((sum, r) => sum + r.drainingPools, 0),
    pool: mergeStats(reports.map((r) => r.pool)),
  }
  const caches = reports.flatMap((r) => (r.cache ? [r.cache] : []))
  if (caches.length > 0) merged.cache = mergeCacheStats(caches)
  if ('settled' in first)
    (merged as T & { settled: boolean }).settled = reports.every(
      (r) => (r as T & { settled?: boolean }).settled !== false,
    )
  return merged
}

/** Lists of tenant reports (one list per process) merged tenant by tenant, by name. */
export function mergeTenantLists(lists: readonly TenantReport[][]): TenantReport[] {
  const byName = new Map<string, TenantReport[]>()
  for (const list of lists)
    for (const report of list) byName.set(report.name, [...(byName.get(report.name) ?? []), report])
  return [...byName.keys()].sort().map((name) => mergeTenant(byName.get(name)!))
}

/** The channel of a gateway without workers: every operation runs here. */
export function localChannel(admin: Admin, worker = 0): NodeChannel {
  return {
    async broadcast(op) {
      try {
        return [{ worker, ok: true, value: await runLocal(admin, op) }]
      } catch (error) {
        return [{ worker, ok: false, error: toPlainError(error) }]
      }
    },
    reload: () => admin.reload(),
  }
}
