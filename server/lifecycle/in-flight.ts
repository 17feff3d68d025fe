/**
 * The one way the gateway waits for work to finish: requests during a drain or a reload,
 * open transactions at shutdown, borrowed connections when a pool closes. Each piece of
 * work holds a ticket from `begin()` until it calls `end()`.
 */

/** A piece of work in flight; `end()` is idempotent. */
export interface Ticket {
  end(): void
}

interface Entry extends Ticket {
  /** Resolves when this entry ends. */
  readonly ended: Promise<void>
}

/** Counts work in flight and wakes whoever waits for it. */
export class InFlight {
  private readonly entries = new Set<Entry>()
  private idleWaiters: (() => void)[] = []

  /** Work in flight now. */
  get size(): number {
    return this.entries.size
  }

  /** Starts tracking one piece of work. */
  begin(): Ticket {
    let wake!: () => void
    const ended = new Promise<void>((resolve) => (wake = resolve))
    const entries = this.entries
    const entry: Entry = {
      ended,
      end: () => {
        if (!entries.delete(entry)) return
        wake()
        if (entries.size === 0) for (const w of this.idleWaiters.splice(0)) w()
      },
    }
    entries.add(entry)
    return entry
  }

  /** Tracks `work` until it settles. */
  async track<T>(work: () => Promise<T>): Promise<T> {
    const ticket = this.begin()
    try {
      return await work()
    } finally {
      ticket.end()
    }
  }

  /**
   * Resolves `true` once nothing is in flight (work begun later included), or `false`
   * after `timeoutMs` (never, when not given).
   */
  idle(timeoutMs?: number): Promise<boolean> {
    if (this.entries.size === 0) return Promise.resolve(true)
    return withTimeout(new Promise<void>((resolve) => this.idleWaiters.push(resolve)), timeoutMs)
  }

  /** Resolves `true` once the work in flight now has ended, `false` after `timeoutMs`. */
  passed(timeoutMs: number): Promise<boolean> {
    if (this.entries.size === 0) return Promise.resolve(true)
    const now = [...this.entries].map((entry) => entry.ended)
    return withTimeout(Promise.all(now), timeoutMs)
  }
}

async function withTimeout(done: Promise<unknown>, timeoutMs?: number): Promise<boolean> {
  if (timeoutMs === undefined) return done.then(() => true)
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs)
  })
  try {
    return await Promise.race([done.then(() => true), timeout])
  } finally {
    clearTimeout(timer)
  }
}
