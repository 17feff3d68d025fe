/**
 * The admin API over a node's workers and the cluster's nodes. An operator's request, on
 * whichever worker of whichever node it lands, runs in every worker of that node (through
 * the node's channel) and in every peer node (signed requests to the same routes, which
 * there run node-wide only), and the answers are merged: pool counts add up, a tenant is
 * paused when it is paused everywhere, and `nodes` says which node answered and which did
 * not. A lone gateway (one process, no peers) answers exactly as server/admin/admin.ts does.
 */
import type { Admin, PauseReport, PurgeReport, TenantReport } from '../admin/admin.js'
import type { Config } from '../config/schema.js'
import type { ReloadReport } from '../tenants/tenant-set.js'
import type { ClusterNode } from './node.js'
import {
  fromPlainError,
  mergeTenant,
  mergeTenantLists,
  type NodeChannel,
  type NodeOp,
} from './node-ops.js'
import { unreachable, type PeerClient } from './peer-client.js'
import type { WorkerSlot } from './view.js'

/** Who asked: an operator (the whole cluster) or a peer (this node only). */
export type AdminScope = 'cluster' | 'node'

/** How one node took an admin action. */
export interface NodeOutcome {
  node: string
  ok: boolean
  /** Its workers, when it answered. */
  workers?: number
  error?: string
}

/** One node and its workers, as `GET /admin/nodes` lists them. */
export interface NodeReport extends NodeOutcome {
  key?: string
  workerList?: Pick<WorkerSlot, 'index' | 'pid' | 'incarnation' | 'startedAt' | 'restarts'>[]
}

type WithNodes<T> = T & { nodes?: NodeOutcome[] }

/** What {@link ClusterAdmin} needs. */
export interface ClusterAdminDeps {
  admin: Admin
  node: ClusterNode
  channel: NodeChannel
  /** Present when the node has peers. */
  peers: PeerClient | undefined
  connectTimeoutMs: number
}

/** The admin operations, node-wide and cluster-wide. */
export class ClusterAdmin {
  constructor(private readonly deps: ClusterAdminDeps) {}

  /** Several processes answer: answers carry `nodes`. */
  get spread(): boolean {
    return this.deps.node.clustered || this.deps.node.worker.count > 1
  }

  token(): string | undefined {
    return this.deps.admin.token()
  }

  isAdmin(authorization: string | undefined): boolean {
    return this.deps.admin.isAdmin(authorization)
  }

  config(): Config {
    return this.deps.admin.config()
  }

  async tenants(scope: AdminScope): Promise<WithNodes<{ tenants: TenantReport[] }>> {
    const mine = await this.everyWorker<TenantReport[]>({ op: 'tenants' })
    const peers = await this.fanOut<{ tenants: TenantReport[] }>(scope, 'GET', '/admin/tenants')
    const tenants = mergeTenantLists([
      mergeTenantLists(mine.values),
      ...peers.answers.map((a) => a.tenants),
    ])
    return this.answer({ tenants }, peers.outcomes, mine.lost)
  }

  async tenant(name: string, scope: AdminScope): Promise<WithNodes<TenantReport>> {
    return this.onTenant<TenantReport>(
      { op: 'tenant', name },
      scope,
      'GET',
      `/admin/tenants/${name}`,
    )
  }

  async pause(name: string, waitMs: number, scope: AdminScope): Promise<WithNodes<PauseReport>> {
    const path = `/admin/tenants/${name}/pause?waitMs=${waitMs}`
    return this.onTenant<PauseReport>({ op: 'pause', name, waitMs }, scope, 'POST', path, waitMs)
  }

  async resume(name: string, scope: AdminScope): Promise<WithNodes<TenantReport>> {
    return this.onTenant<TenantReport>(
      { op: 'resume', name },
      scope,
      'POST',
      `/admin/tenants/${name}/resume`,
    )
  }

  /**
   * Purges a tenant's query cache here: the purge travels to every process on the tenant's
   * database (every worker and node) over the cache's own NOTIFY channel.
   */
  purgeCache(name: string, tag: string | undefined): Promise<PurgeReport> {
    return this.deps.admin.purgeCache(name, tag)
  }

  /** Reloads this node's config (an invalid file throws, and no peer is asked), then the peers'. */
  async reload(scope: AdminScope): Promise<WithNodes<ReloadReport>> {
    const report = await this.deps.channel.reload()
    const peers = await this.fanOut<ReloadReport>(scope, 'POST', '/admin/reload')
    return this.answer(report, peers.outcomes)
  }

  /** This node's workers, and every peer's. */
  async nodes(scope: AdminScope): Promise<{ nodes: NodeReport[] }> {
    const { node } = this.deps
    const workers =
      node.view.workers.length > 0
        ? node.view.workers
        : [
            {
              index: node.worker.index,
              pid: process.pid,
              incarnation: node.worker.incarnation,
              startedAt: '',
              restarts: 0,
            },
          ]
    const mine: NodeReport = {
      node: node.address,
      ok: true,
      key: node.key,
      workers: workers.length,
      workerList: workers.map(({ index, pid, incarnation, startedAt, restarts }) => ({
        index,
        pid,
        incarnation,
        startedAt,
        restarts,
      })),
    }
    const peers = await this.fanOut<{ nodes: NodeReport[] }>(scope, 'GET', '/admin/nodes')
    const reached = peers.answers.flatMap((a) => a.nodes)
    const failed = peers.outcomes.filter((o) => !o.ok)
    return { nodes: [mine, ...reached, ...failed] }
  }

  private async onTenant<T extends TenantReport>(
    op: NodeOp,
    scope: AdminScope,
    method: string,
    path: string,
    waitMs = 0,
  ): Promise<WithNodes<T>> {
    const mine = await this.everyWorker<T>(op)
    const peers = await this.fanOut<T>(scope, method, path, waitMs)
    return this.answer(
      mergeTenant([mergeTenant(mine.values), ...peers.answers]),
      peers.outcomes,
      mine.lost,
    )
  }

  /**
   * Runs `op` in every worker of this node: their answers, and why a worker gave none (it
   * exited, or did not answer in time), which the answer reports rather than failing the
   * action that ran on the others. An error of the operation itself (an unknown tenant)
   * is thrown, as every worker gives the same.
   */
  private async everyWorker<T>(op: NodeOp): Promise<{ values: T[]; lost: string[] }> {
    const values: T[] = []
    const lost: string[] = []
    for (const answer of await this.deps.channel.broadcast(op)) {
      if (answer.ok) values.push(answer.value as T)
      else if (answer.error.code !== undefined) throw fromPlainError(answer.error)
      else lost.push(answer.error.message)
    }
    if (values.length === 0) throw new Error(`no worker answered: ${lost.join('; ')}`)
    return { values, lost }
  }

  /**
   * `value` with `nodes` when several processes answer: this node first (not ok when a
   * worker was `lost`), then the peers.
   */
  private answer<T extends object>(
    value: T,
    peers: NodeOutcome[],
    lost: string[] = [],
  ): WithNodes<T> {
    if (!this.spread) return value
    const { node } = this.deps
    const mine: NodeOutcome = {
      node: node.address,
      ok: lost.length === 0,
      workers: Math.max(1, node.worker.count),
      ...(lost.length > 0 ? { error: lost.join('; ') } : {}),
    }
    return { ...value, nodes: [mine, ...peers] }
  }

  /**
   * Asks every peer (cluster scope only) for the same action, node-wide. Each answers with
   * its own `nodes` (itself); a peer that fails is an outcome with the reason.
   */
  private async fanOut<T>(
    scope: AdminScope,
    method: string,
    path: string,
    waitMs = 0,
  ): Promise<{ answers: T[]; outcomes: NodeOutcome[] }> {
    const { peers, node, connectTimeoutMs } = this.deps
    if (scope === 'node' || !peers) return { answers: [], outcomes: [] }
    const results = await Promise.all(
      node.view.peers.map(async (peer) => {
        try {
          const { status, body } = await peers.request(peer, method, path, waitMs)
          if (status >= 400) {
            const error = (body as { error?: { code?: string; message?: string } }).error
            return {
              outcome: {
                node: peer.address,
                ok: false,
                error: `${status} ${error?.code ?? ''} ${error?.message ?? ''}`.trim(),
              },
            }
          }
          const answer = body as T & { nodes?: NodeOutcome[] }
          const own = answer.nodes?.[0]
          const outcome: NodeOutcome = {
            node: peer.address,
            ok: own?.ok ?? true,
            ...(own?.workers ? { workers: own.workers } : {}),
            ...(own?.error ? { error: own.error } : {}),
          }
          return { answer: answer as T, outcome }
        } catch (error) {
          return {
            outcome: {
              node: peer.address,
              ok: false,
              error: `unreachable: ${unreachable(error, connectTimeoutMs + waitMs)}`,
            },
          }
        }
      }),
    )
    return {
      answers: results.flatMap((r) => ('answer' in r && r.answer !== undefined ? [r.answer] : [])),
      outcomes: results.map((r) => r.outcome),
    }
  }
}
