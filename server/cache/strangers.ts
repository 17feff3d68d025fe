/**
 * Messages on the channel that are shaped like a member's but not signed with our key
 * (./inbox.ts): another Sluice process on the database that does not share the key, or a
 * forgery. We cannot tell which, and either way we cannot wait for that process's
 * acknowledgements nor it for ours, so the cache answers nothing from memory while they come
 * (docs/cache.md "The key"). They are logged at once, then at most once a minute.
 */
import { MEMBER_TIMEOUT_MS } from './acks.js'
import { CHANNEL } from './messages.js'

/** Strangers are logged at most this often (with how many came). */
const WARNING_MS = 60_000

/** The strangers one member heard, and when. */
export class Strangers {
  /** performance.now() of the last one. */
  private lastAt = -Infinity
  private warnedAt = -Infinity
  private sinceWarning = 0

  /** `warn`: where the log line goes. */
  constructor(private readonly warn: (message: string) => void) {}

  /**
   * None was heard for {@link MEMBER_TIMEOUT_MS}: a process that ticks every 200 ms would have
   * been heard, and one that has been silent that long has lost its lease.
   */
  get quiet(): boolean {
    return performance.now() - this.lastAt >= MEMBER_TIMEOUT_MS
  }

  /** One arrived. */
  heard(): void {
    const now = performance.now()
    this.lastAt = now
    this.sinceWarning++
    if (now - this.warnedAt < WARNING_MS) return
    this.warn(
      `the cache's invalidation channel (NOTIFY ${CHANNEL}) carries messages that are not signed with this gateway's key (${this.sinceWarning} since the last warning): another Sluice process uses the same database without sharing the key, or someone else notifies the channel. This tenant's reads bypass the cache until they stop. Give every Sluice process on the database the same server.cacheSecret (or make them one cluster with server.cluster); see docs/cache.md "The key"`,
    )
    this.warnedAt = now
    this.sinceWarning = 0
  }
}
