/**
 * The workers a node's primary (./primary.ts) runs, one slot per index: each worker process,
 * whether it listens yet and what it was started with. Messages to them go through here, and
 * so do the questions asked of every listening worker (./worker-answers.ts).
 */
import type { Worker } from 'node:cluster'
import type { Config } from '../config/schema.js'
import type { ToWorker } from './messages.js'
import type { NodeOp, WorkerAnswer } from './node-ops.js'
import type { WorkerSlot } from './view.js'
import { WorkerAnswers } from './worker-answers.js'

/** A worker as its primary holds it. */
export interface Slot extends WorkerSlot {
  worker: Worker
  listening: boolean
  /** The config it was started with. */
  config?: Config
  /** The tenants it was started with paused. */
  paused?: Set<string>
  /** Sends the worker its start, when it asks. */
  hello?: () => void
}

/** How long the workers have to answer a node-wide question (plus what it waits for). */
export const GATHER_MS = 30_000

/** The primary's workers, by index. */
export class WorkerSlots {
  private readonly slots = new Map<number, Slot>()
  /** The questions asked of the workers; every message id comes from it. */
  readonly answers = new WorkerAnswers()

  /** How many workers run. */
  get size(): number {
    return this.slots.size
  }

  /** The workers running now, as a view lists them. */
  list(): WorkerSlot[] {
    return [...this.slots.values()].map(
      ({ worker: _w, listening: _l, hello: _h, config: _c, paused: _p, ...slot }) => slot,
    )
  }

  /** Every worker's slot. */
  values(): IterableIterator<Slot> {
    return this.slots.values()
  }

  /** The worker with this index now. */
  get(index: number): Slot | undefined {
    return this.slots.get(index)
  }

  /** The slot of `worker`, while it has one. */
  of(worker: Worker): Slot | undefined {
    return [...this.slots.values()].find((s) => s.worker === worker)
  }

  /** Holds a worker just forked, in place of any before it at its index. */
  add(slot: Slot): void {
    this.slots.set(slot.index, slot)
  }

  /** Frees the index of `slot`, unless a newer worker took it. */
  remove(slot: Slot): void {
    if (this.slots.get(slot.index) === slot) this.slots.delete(slot.index)
  }

  /** Sends `message` to `worker`, unless its channel closed. */
  send(worker: Worker, message: ToWorker): void {
    if (worker.isConnected()) worker.send(message)
  }

  /** Sends `message` to every worker. */
  sendAll(message: ToWorker): void {
    for (const slot of this.slots.values()) this.send(slot.worker, message)
  }

  /** Runs `op` in one worker, without waiting for its answer. */
  run(worker: Worker, op: NodeOp): void {
    this.send(worker, { type: 'sluice:run', id: this.answers.id(), op })
  }

  /** Sends one message per listening worker and collects their answers (./worker-answers.ts). */
  gather(send: (id: number, slot: Slot) => void, timeoutMs = GATHER_MS): Promise<WorkerAnswer[]> {
    const targets = [...this.slots.values()].filter((s) => s.listening && s.worker.isConnected())
    return this.answers.gather(targets, send, timeoutMs)
  }

  /**
   * Tells every worker to drain; resolves once each said it began (or exited), so /readyz
   * answers 503 everywhere.
   */
  async drain(): Promise<void> {
    const acks = [...this.slots.values()].map(
      (slot) =>
        new Promise<void>((resolve) => {
          const onMessage = (message: unknown) => {
            if ((message as { type?: string }).type !== 'sluice:draining') return
            slot.worker.off('message', onMessage)
            resolve()
          }
          slot.worker.on('message', onMessage)
          slot.worker.once('exit', () => resolve())
          this.send(slot.worker, { type: 'sluice:drain' })
        }),
    )
    await Promise.all(acks)
  }

  /** Stops every worker now: their connections close with them. */
  killAll(): void {
    for (const slot of this.slots.values()) slot.worker.process.kill('SIGKILL')
  }
}
