/**
 * The gateway's life: serving, then draining. Counts requests in flight so a shutdown can
 * wait for them, and refuses new work while draining.
 */
import { SluiceError } from '../../src/errors.js'

/** Tracks in-flight work and the draining state. */
export class Lifecycle {
  draining = false
  private inflight = 0
  private idleWaiters: (() => void)[] = []

  /** Requests being served now. */
  get inFlight(): number {
    return this.inflight
  }

  /** Throws SHUTTING_DOWN while draining. */
  assertServing(): void {
    if (this.draining) {
      throw new SluiceError(
        'SHUTTING_DOWN',
        'the gateway is shutting down: retry on another instance',
        {
          retryable: true,
          retryAfter: 1,
        },
      )
    }
  }

  /** Counts `work` as in flight until it settles. */
  async track<T>(work: () => Promise<T>): Promise<T> {
    this.inflight++
    try {
      return await work()
    } finally {
      this.inflight--
      if (this.inflight === 0) for (const wake of this.idleWaiters.splice(0)) wake()
    }
  }

  /** Resolves `true` when nothing is in flight, or `false` after `timeoutMs`. */
  settled(timeoutMs: number): Promise<boolean> {
    if (this.inflight === 0) return Promise.resolve(true)
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs)
      this.idleWaiters.push(() => {
        clearTimeout(timer)
        resolve(true)
      })
    })
  }
}
