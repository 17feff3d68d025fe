/**
 * The gateway's life: serving, then draining, then stopping. While draining, new work is
 * refused with SHUTTING_DOWN (open transactions may still finish) and answers close their
 * keep-alive sockets; when the drain ends, `stopping` aborts and whatever still runs is
 * cancelled. Counts the requests in flight so a shutdown or a reload can wait for them.
 */
import { shuttingDown } from '../errors.js'
import { LightSignal } from './abort.js'
import { InFlight } from './in-flight.js'

/** Tracks admitted requests and the drain. */
export class Lifecycle {
  /** Set at the start of the drain: /readyz answers 503, new work SHUTTING_DOWN. */
  draining = false
  /** Aborts when the drain ends: statements still running are cancelled with SHUTTING_DOWN. */
  readonly stopping = new LightSignal()
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

  /** Resolves `true` when nothing is in flight, or `false` after `timeoutMs`. */
  settled(timeoutMs: number): Promise<boolean> {
    return this.requests.idle(timeoutMs)
  }
}
