/**
 * What one gateway process knows of the others, as the primary (or, without workers, the
 * process itself) tells it: the workers of its node with their sockets, the workers that
 * died and why, and the peer nodes with whether they answer. Plain data: it travels over
 * the primary's IPC channel.
 */

/** A worker running now. */
export interface WorkerSlot {
  /** 1-based index on its node (0 for a gateway without workers). */
  index: number
  incarnation: number
  pid: number
  /** Its Unix socket, where the other workers forward its transactions' requests. */
  socketPath: string
  startedAt: string
  /** How many times this index was restarted. */
  restarts: number
}

/** A worker that ended, and how: told to its transactions' clients. */
export interface GoneWorker {
  index: number
  incarnation: number
  why: string
}

/** Another node of the cluster. */
export interface PeerState {
  /** Where this node reaches it (`host:port`). */
  address: string
  /** Its key, as its transaction ids carry it. */
  key: string
  /** It answered its last checks (two misses in a row and it is gone). */
  live: boolean
  /** Why it does not answer, when it does not. */
  error?: string
  /** When it last answered (ISO time). */
  seenAt?: string
}

/** One process's view of its node and cluster. */
export interface ClusterView {
  workers: WorkerSlot[]
  gone: GoneWorker[]
  peers: PeerState[]
}

/** A view with nothing in it: a lone gateway. */
export function emptyView(): ClusterView {
  return { workers: [], gone: [], peers: [] }
}

/** How many worker deaths a view remembers. */
export const GONE_KEPT = 64
