/**
 * A worker that dies is restarted: at once when it had run a while, with a backoff that
 * doubles when it keeps dying. Its transactions' clients are told how it died.
 */
import type { WorkerSlot } from './view.js'

const RESTART_MIN_MS = 100
const RESTART_MAX_MS = 5_000
/** A worker that ran this long before dying restarts without delay. */
const STABLE_MS = 10_000

/** How a worker ended, as its transactions' clients are told. */
export function howItDied(slot: WorkerSlot, code: number | null, signal: string | null): string {
  const how = signal ? `was killed (${signal})` : `exited with code ${code}`
  return `the worker process that held it (worker ${slot.index}, pid ${slot.pid}) ${how} at ${new Date().toISOString()}; its connection closed, so PostgreSQL rolled it back`
}

/** The delay before each worker index's next restart. */
export class RestartDelays {
  private readonly delays = new Map<number, number>()

  /** How long to wait before restarting the worker of `slot`, which just died. */
  next(slot: WorkerSlot): number {
    const ranFor = Date.now() - Date.parse(slot.startedAt)
    const delay =
      ranFor >= STABLE_MS
        ? RESTART_MIN_MS
        : Math.min((this.delays.get(slot.index) ?? RESTART_MIN_MS / 2) * 2, RESTART_MAX_MS)
    this.delays.set(slot.index, delay)
    return delay
  }
}
