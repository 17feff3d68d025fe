/**
 * The one way the gateway waits for work to finish: requests during a drain or a reload,
 * open transactions at shutdown, borrowed connections when a pool closes. Each piece of
 * work holds a ticket from `begin()` until it calls `end()`.
 */

/** A piece of work in flight; `end()` is idempotent. */
export interface Ticket {
  end(): void
}

// Every request takes a ticket or two (admission, the pool's loan): one plain object each,
// with no promise or closure unless a reload waits for that very ticket (`passed`).
class Entry implements Ticket {
  /** Wakes whoever waits for this entry to end (set by `passed` only). */
  wake: (() => void) | undefined = undefined

  constructor(private readonly owner: InFlight) {}

  end(): void {
    this.owner.release(this)
  }
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
    const entry = new Entry(this)
    this.entries.add(entry)
    return entry
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
    const now = [...this.entries].map((entry) => {
      const before = entry.wake
      return new Promise<void>((resolve) => {
        entry.wake = () => {
          before?.()
          resolve()
        }
      })
    })
    return withTimeout(Promise.all(now), timeoutMs)
  }

  /** Ends a ticket of this counter (its `end()`); a second call does nothing. */
  release(ticket: Ticket): void {
    const entry = ticket as Entry
    if (!this.entries.delete(entry)) return
    entry.wake?.()
    if (this.entries.size === 0) for (const w of this.idleWaiters.splice(0)) w()
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
