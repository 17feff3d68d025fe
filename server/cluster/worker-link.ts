/**
 * A worker's side of the primary's IPC channel: it waits for its start (index, config,
 * secrets), tells the primary when it listens, takes the cluster's views and the drain,
 * runs the node-wide operations the primary relays, and asks its node's questions (an
 * admin action in every worker, a reload, the aggregated metrics) through
 * {@link WorkerLink.channel}. The metrics the primary aggregates are this worker's registry.
 */
import process from 'node:process'
import type { Registry } from 'prom-client'
import type { Config } from '../config/schema.js'
import type { ReloadReport } from '../tenants/tenant-set.js'
import {
  isSluiceMessage,
  type NodeRequest,
  type ToPrimary,
  type ToWorker,
  type WorkerStart,
} from './messages.js'
import {
  fromPlainError,
  toPlainError,
  type NodeChannel,
  type NodeOp,
  type WorkerAnswer,
} from './node-ops.js'
import type { NonceClaim } from './replay-guard.js'
import type { ClusterView } from './view.js'

/** What a worker does when the primary asks. */
export interface WorkerHandlers {
  view(view: ClusterView): void
  drain(): void
  run(op: NodeOp): Promise<unknown>
  apply(config: Config): Promise<ReloadReport>
  cancel(processId: number, secretKey: number): void
  /** The primary is gone (killed): a worker without it must stop. */
  orphaned(): void
}

function send(message: ToPrimary): void {
  if (process.connected) process.send?.(message)
}

/** A worker's link to its primary. */
export class WorkerLink {
  readonly start: WorkerStart
  private handlers: WorkerHandlers | undefined
  private registry: Registry | undefined
  private nextId = 1
  private readonly pending = new Map<
    number,
    { resolve: (value: unknown) => void; reject: (error: Error) => void }
  >()

  private constructor(start: WorkerStart) {
    this.start = start
    process.on('message', (message: unknown) => this.onMessage(message))
    process.once('disconnect', () => this.handlers?.orphaned())
  }

  /** Waits for the primary's start message. */
  static open(): Promise<WorkerLink> {
    return new Promise((resolve) => {
      const onMessage = (message: unknown) => {
        if ((message as ToWorker).type !== 'sluice:start') return
        process.off('message', onMessage)
        resolve(new WorkerLink((message as Extract<ToWorker, { type: 'sluice:start' }>).start))
      }
      process.on('message', onMessage)
      send({ type: 'sluice:hello' })
    })
  }

  /** Starts taking the primary's messages, and lets it aggregate `registry`'s metrics. */
  serve(handlers: WorkerHandlers, registry: Registry): void {
    this.handlers = handlers
    this.registry = registry
  }

  /** This worker listens (on the node's ports): the primary may count it in. */
  listening(port: number, pgPort: number | undefined): void {
    send({ type: 'sluice:listening', port, pgPort })
  }

  /** This worker could not start. */
  failed(message: string): void {
    send({ type: 'sluice:failed', message })
  }

  /** The node's operations, asked of the primary. */
  get channel(): NodeChannel {
    return {
      broadcast: (op) => this.ask({ kind: 'broadcast', op }) as Promise<WorkerAnswer[]>,
      reload: () => this.ask({ kind: 'reload' }) as Promise<ReloadReport>,
      metrics: () => this.ask({ kind: 'metrics' }) as Promise<string>,
    }
  }

  /** Claims a peer's request's nonce for the node, in the primary (./replay-guard.ts). */
  claimNonce(nonce: string, signedAt: number): Promise<NonceClaim> {
    return this.ask({ kind: 'nonce', nonce, signedAt }) as Promise<NonceClaim>
  }

  /** Passes a CancelRequest to the worker whose session it names. */
  relayCancel(worker: number, processId: number, secretKey: number): void {
    send({ type: 'sluice:cancel', worker, processId, secretKey })
  }

  private ask(request: NodeRequest): Promise<unknown> {
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      if (!process.connected) {
        reject(new Error('the primary process is gone'))
        return
      }
      this.pending.set(id, { resolve, reject })
      send({ type: 'sluice:ask', id, request })
    })
  }

  private onMessage(message: unknown): void {
    if (!isSluiceMessage(message)) return
    const m = message as ToWorker
    const handlers = this.handlers
    switch (m.type) {
      case 'sluice:reply': {
        const waiter = this.pending.get(m.id)
        this.pending.delete(m.id)
        if (m.ok) waiter?.resolve(m.value)
        else waiter?.reject(fromPlainError(m.error))
        break
      }
      case 'sluice:view':
        handlers?.view(m.view)
        break
      case 'sluice:drain':
        handlers?.drain()
        send({ type: 'sluice:draining' })
        break
      case 'sluice:run':
        void this.answer(m.id, () => handlers!.run(m.op))
        break
      case 'sluice:apply':
        void this.answer(m.id, () => handlers!.apply(m.config))
        break
      case 'sluice:metrics':
        void this.answer(m.id, () => this.registry!.getMetricsAsJSON())
        break
      case 'sluice:cancel':
        handlers?.cancel(m.processId, m.secretKey)
        break
      default:
        break
    }
  }

  private async answer(id: number, work: () => Promise<unknown>): Promise<void> {
    const worker = this.start.index
    try {
      send({ type: 'sluice:ran', id, answer: { worker, ok: true, value: await work() } })
    } catch (error) {
      send({ type: 'sluice:ran', id, answer: { worker, ok: false, error: toPlainError(error) } })
    }
  }
}
