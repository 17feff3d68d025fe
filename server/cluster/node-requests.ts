/**
 * The node-wide questions a worker asks its primary (./messages.ts): an admin action to run
 * in every worker, a config reload, the node's metrics, a peer's nonce to accept once. The
 * primary (./primary.ts) answers them here, over its listening workers (./worker-slots.ts).
 */
import type { Worker } from 'node:cluster'
import type { Logger } from '../log/logger.js'
import type { ReloadReport } from '../tenants/tenant-set.js'
import { PEER_WINDOW_MS } from './hop-auth.js'
import type { NodeRequest } from './messages.js'
import { nodeMetrics } from './node-metrics.js'
import { toPlainError, type NodeOp, type WorkerAnswer } from './node-ops.js'
import { ReplayGuard } from './replay-guard.js'
import { GATHER_MS, type WorkerSlots } from './worker-slots.js'

/** How long the workers have to send their metrics (prom-client's own wait). */
const METRICS_MS = 5_000

/** Options of {@link NodeRequests}. */
export interface NodeRequestsOptions {
  slots: WorkerSlots
  /** This node's address, as its peers reach it (the metrics' `node` label). */
  address: string
  /** The node's reloads by result, counted by `reload`. */
  reloads: { ok: number; invalid: number }
  /** Reloads the config in every worker (the primary's own reload). */
  reload: () => Promise<ReloadReport>
  logger: Logger
}

/** Answers the workers' node-wide questions. */
export class NodeRequests {
  /** Tenants an operator paused (and did not resume): a worker restarted holds them paused too. */
  readonly paused = new Set<string>()
  /** The nonces of the peers' requests any worker accepted: a replay fails on every worker. */
  private readonly nonces = new ReplayGuard(PEER_WINDOW_MS)

  constructor(private readonly options: NodeRequestsOptions) {}

  /** Answers `request`, question `id` of `worker`: the reply (or the error) goes back to it. */
  reply(worker: Worker, id: number, request: NodeRequest): void {
    const { slots } = this.options
    void this.answer(request).then(
      (value) => slots.send(worker, { type: 'sluice:reply', id, ok: true, value }),
      (error: unknown) =>
        slots.send(worker, { type: 'sluice:reply', id, ok: false, error: toPlainError(error) }),
    )
  }

  private answer(request: NodeRequest): Promise<unknown> {
    switch (request.kind) {
      case 'broadcast':
        return this.broadcast(request.op)
      case 'reload':
        return this.options.reload()
      case 'metrics':
        return this.metrics()
      case 'nonce':
        return Promise.resolve(this.nonces.claim(request.nonce, request.signedAt))
    }
  }

  /** The node's metrics, aggregated over its listening workers (./node-metrics.ts). */
  private async metrics(): Promise<string> {
    const { slots, address, reloads, logger } = this.options
    const answers = await slots.gather(
      (id, slot) => slots.send(slot.worker, { type: 'sluice:metrics', id }),
      METRICS_MS,
    )
    return nodeMetrics(answers, { node: address, reloads, logger })
  }

  /** Runs `op` in every listening worker; one answer each. */
  private broadcast(op: NodeOp): Promise<WorkerAnswer[]> {
    if (op.op === 'pause') this.paused.add(op.name)
    if (op.op === 'resume') this.paused.delete(op.name)
    const waitMs = op.op === 'pause' ? op.waitMs : 0
    const { slots } = this.options
    return slots.gather(
      (id, slot) => slots.send(slot.worker, { type: 'sluice:run', id, op }),
      waitMs + GATHER_MS,
    )
  }
}
