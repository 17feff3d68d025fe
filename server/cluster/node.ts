/**
 * This process's place in the cluster: which node and worker it is, how its transaction
 * ids name it, where the owner of any other id is (another worker's socket, a peer's
 * address, or gone and why), and its share of every tenant's pool, from the live nodes and
 * the node's workers. The view changes as workers restart and peers come and go; listeners
 * of {@link ClusterNode.onChange} resize the pools.
 */
import { channelKey } from '../cache/signature.js'
import { HopAuth, PEER_WINDOW_MS } from './hop-auth.js'
import { ReplayGuard, type NonceClaim } from './replay-guard.js'
import { shareOf, type PoolBounds, type SharePosition } from './shares.js'
import { TransactionIds, nodeKeyOf, ownerOf } from './transaction-id.js'
import { emptyView, type ClusterView } from './view.js'

/** Where the transaction an id names is held. */
export type Location =
  /** Here, or not an id of ours: the local registry answers. */
  | { at: 'here' }
  | { at: 'worker'; index: number; socketPath: string }
  | { at: 'peer'; address: string; key: string }
  /** Nowhere any more; `why` is told only to the token that began it. */
  | { at: 'gone'; why: string }

/** Options of {@link ClusterNode}. */
export interface ClusterNodeOptions {
  /** This node's address as its peers reach it (`host:port`). */
  address: string
  /** This worker: its index (0 without workers), incarnation, and the node's worker count. */
  worker: { index: number; incarnation: number; count: number }
  /** Shared by this node's workers only. */
  nodeSecret: string | Buffer
  /** Shared by every node (`server.cluster.secret`); absent without peers. */
  clusterSecret?: string | undefined
  view?: ClusterView
  /**
   * Claims the nonce of a peer's request for the whole node (a worker asks its primary);
   * absent: this process keeps its own guard (a node without workers).
   */
  claimNonce?: ((nonce: string, signedAt: number) => Promise<NonceClaim>) | undefined
}

/** One gateway process's place among its node's workers and the cluster's nodes. */
export class ClusterNode {
  readonly address: string
  readonly key: string
  readonly worker: { index: number; incarnation: number; count: number }
  readonly ids: TransactionIds
  readonly auth: HopAuth
  /**
   * The query cache's channel key as far as this node knows who it is one gateway with:
   * derived from the cluster's secret with peers, else from the node's own (its workers
   * share it). `server.cacheSecret`, when set, takes precedence (server/gateway.ts).
   */
  readonly cacheKey: Buffer
  /** Part of a cluster of several nodes (not only of several workers). */
  readonly clustered: boolean
  private current: ClusterView
  private readonly claim: (nonce: string, signedAt: number) => Promise<NonceClaim>
  private readonly listeners: (() => void)[] = []
  private waiters: (() => void)[] = []

  constructor(options: ClusterNodeOptions) {
    this.address = options.address
    this.key = nodeKeyOf(options.address)
    this.worker = options.worker
    this.clustered = options.clusterSecret !== undefined
    // Ids are checked on every node, so with peers they are signed with the cluster's secret.
    this.ids = new TransactionIds(options.clusterSecret ?? options.nodeSecret, {
      nodeKey: this.key,
      worker: options.worker.index,
      incarnation: options.worker.incarnation,
    })
    this.auth = new HopAuth(options.nodeSecret, options.clusterSecret, this.key)
    const guard = options.claimNonce ? undefined : new ReplayGuard(PEER_WINDOW_MS)
    this.claim =
      options.claimNonce ?? ((nonce, signedAt) => Promise.resolve(guard!.claim(nonce, signedAt)))
    this.cacheKey = channelKey(options.clusterSecret ?? options.nodeSecret)
    Object.defineProperty(this, 'cacheKey', { enumerable: false })
    this.current = options.view ?? emptyView()
  }

  /** The view in force. */
  get view(): ClusterView {
    return this.current
  }

  /**
   * Accepts the nonce of a peer's request once on this node (./replay-guard.ts): `replayed`
   * when it was accepted before, `stale` when signed before the node started, `full` when
   * the node remembers too many to take another.
   */
  claimNonce(nonce: string, signedAt: number): Promise<NonceClaim> {
    return this.claim(nonce, signedAt)
  }

  /** Takes a new view; tells the listeners when this process's pool shares changed. */
  update(view: ClusterView): void {
    const before = JSON.stringify(this.position())
    this.current = view
    for (const wake of this.waiters.splice(0)) wake()
    if (JSON.stringify(this.position()) !== before)
      for (const listener of this.listeners) listener()
  }

  /** Resolves at the next view, or after `timeoutMs`: a worker just lost may be explained soon. */
  nextView(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs)
      function done() {
        clearTimeout(timer)
        resolve()
      }
      this.waiters.push(done)
    })
  }

  /** Calls `listener` whenever this process's share of the pools changes. */
  onChange(listener: () => void): void {
    this.listeners.push(listener)
  }

  /** The addresses of the nodes that answer, this one included, in key order. */
  liveNodes(): { address: string; key: string }[] {
    const nodes = [
      { address: this.address, key: this.key },
      ...this.current.peers.filter((p) => p.live).map(({ address, key }) => ({ address, key })),
    ]
    return nodes.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
  }

  /** Where this process stands for dividing pools. */
  position(): SharePosition {
    const nodes = this.liveNodes()
    return {
      nodeRank: nodes.findIndex((n) => n.key === this.key),
      nodes: nodes.length,
      workerIndex: Math.max(0, this.worker.index - 1),
      workers: this.worker.count,
    }
  }

  /** This process's share of a tenant's configured pool bounds. */
  share(bounds: PoolBounds): PoolBounds {
    return shareOf(bounds, this.position())
  }

  /** Where the transaction `id` is held. */
  locate(id: string): Location {
    const owner = ownerOf(id)
    if (owner === undefined || this.ids.isMine(owner)) return { at: 'here' }
    if (owner.nodeKey !== this.key) {
      const peer = this.current.peers.find((p) => p.key === owner.nodeKey)
      if (!peer) {
        return {
          at: 'gone',
          why: 'the node that held it is not among the cluster nodes any more (it left, or was replaced); when a node goes away, its transactions are rolled back',
        }
      }
      if (!peer.live) {
        return {
          at: 'gone',
          why: `the node that held it (${peer.address}) stopped answering${peer.error ? ` (${peer.error})` : ''}; when a node goes away, its transactions are rolled back`,
        }
      }
      return { at: 'peer', address: peer.address, key: peer.key }
    }
    const died = this.current.gone.find(
      (g) => g.index === owner.worker && g.incarnation === owner.incarnation,
    )
    if (died) return { at: 'gone', why: died.why }
    const slot = this.current.workers.find((w) => w.index === owner.worker)
    if (slot?.incarnation === owner.incarnation && owner.worker !== this.worker.index)
      return { at: 'worker', index: slot.index, socketPath: slot.socketPath }
    return {
      at: 'gone',
      why: 'the worker process that held it is not running any more (the gateway restarted since), so PostgreSQL rolled it back',
    }
  }
}
