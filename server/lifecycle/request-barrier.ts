/**
 * Which requests were already running at a moment: a reload waits for them before it
 * closes a replaced pool, since such a request may hold the old tenant and still borrow
 * from its pool (say, while its body is still arriving).
 */
import type { MiddlewareHandler } from 'hono'
import type { GatewayEnv } from '../http/env.js'

/** Tracks requests in flight, for waiting on the ones running now. */
export class RequestBarrier {
  private readonly active = new Set<Promise<unknown>>()

  /** Requests running now. */
  get size(): number {
    return this.active.size
  }

  /** Tracks `running` until it settles. */
  async track<T>(running: Promise<T>): Promise<T> {
    this.active.add(running)
    try {
      return await running
    } finally {
      this.active.delete(running)
    }
  }

  /** The middleware that tracks each request. */
  middleware(): MiddlewareHandler<GatewayEnv> {
    const track = (running: Promise<void>) => this.track(running)
    return async function trackRequest(_c, next) {
      await track(next())
    }
  }

  /** Resolves `true` once every request running now has finished, `false` after `timeoutMs`. */
  async passed(timeoutMs: number): Promise<boolean> {
    const running = [...this.active].map((p) => p.then(noop, noop))
    if (running.length === 0) return true
    let timer: ReturnType<typeof setTimeout> | undefined
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs)
    })
    const done = Promise.all(running).then(() => true)
    const result = await Promise.race([done, timeout])
    clearTimeout(timer)
    return result
  }
}

function noop(): void {}
