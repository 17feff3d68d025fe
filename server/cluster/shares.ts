/**
 * Dividing a tenant's pool among the processes that serve it, so that the parts add up to
 * the whole and never more: first among the cluster's live nodes (in the order of their
 * keys, which every node computes alike), then among a node's workers. The remainder goes
 * one each to the first parts.
 */

/** A pool's bounds. */
export interface PoolBounds {
  min: number
  max: number
}

/** Part `index` (0-based) of `total` split into `parts`; the parts sum to `total`. */
export function split(total: number, parts: number, index: number): number {
  if (parts <= 1) return total
  const base = Math.floor(total / parts)
  return base + (index < total % parts ? 1 : 0)
}

/** Where one process stands: its node among the live nodes, its worker among the node's. */
export interface SharePosition {
  /** This node's rank among the live nodes (0-based), and how many there are. */
  nodeRank: number
  nodes: number
  /** This worker's index among the node's workers (0-based), and how many there are. */
  workerIndex: number
  workers: number
}

/** One process's share of a tenant's pool bounds. */
export function shareOf(bounds: PoolBounds, at: SharePosition): PoolBounds {
  const part = (total: number) =>
    split(split(total, at.nodes, at.nodeRank), at.workers, at.workerIndex)
  const max = part(bounds.max)
  return { min: Math.min(part(bounds.min), max), max }
}
