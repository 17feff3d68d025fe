/**
 * The gateway's life: serving, then draining. Counts the requests in flight so a shutdown
 * or a reload can wait for them, and refuses new work while draining.
 */
import { shuttingDown } from '../errors.js'
import { InFlight } from './in-flight.js'

/** Tracks admitted requests and the draining state. */
export class Lifecycle {
  draining = false
  /** Admitted requests being served now. */
  readonly requests = new InFlight()

  /** Requests being served now. */
  get inFlight(): number {
    return this.requests.size
  }

  /** Throws SHUTTING_DOWN while draining. */
  assertServing(): void {
    if (this.draining) throw shuttingDown()
  }

  /** Counts `work` as in flight until it settles. */
  track<T>(work: () => Promise<T>): Promise<T> {
    return this.requests.track(work)
  }

  /** Resolves `true` when nothing is in flight, or `false` after `timeoutMs`. */
  settled(timeoutMs: number): Promise<boolean> {
    return this.requests.idle(timeoutMs)
  }
}
