/**
 * The nonces of the peers' requests a node accepted while their signatures still count
 * (./hop-auth.ts): a nonce seen again is a replay and is refused. One guard per node (the
 * primary's, which its workers ask, or the lone process's own), so a replay is refused
 * whichever worker it lands on. The guard starts empty when the node starts, so it refuses
 * what was signed before then: a request read before a restart is not taken after it.
 * Memory is bounded: an entry goes when its signature
 * expires, and past {@link REPLAY_GUARD_MAX} live entries a new request is refused
 * (RATE_LIMITED) rather than remembered.
 */

/** What claiming a nonce found (`stale`: signed before the guard started). */
export type NonceClaim = 'fresh' | 'replayed' | 'stale' | 'full'

/**
 * How many nonces a node remembers at once: over the 60 s a signature counts, about 1,600
 * peer requests a second, in about 10 MB at most.
 */
export const REPLAY_GUARD_MAX = 100_000

/** How often a full guard looks again for entries that expired out of order. */
const SWEEP_MS = 1000

/** Remembers the nonces accepted until their signatures expire. */
export class ReplayGuard {
  /** Nonce to the time its signature stops counting; roughly in that order (clocks differ). */
  private readonly seen = new Map<string, number>()
  private sweptAt = 0

  /**
   * `windowMs`: how long a signature counts after it was made; `startedAt`: the guard knows
   * nothing signed before.
   */
  constructor(
    private readonly windowMs: number,
    private readonly max = REPLAY_GUARD_MAX,
    private readonly startedAt = Date.now(),
  ) {}

  /** How many nonces it holds now. */
  get size(): number {
    return this.seen.size
  }

  /** Records `nonce`, signed at `signedAt`, unless it was seen, or the guard is full. */
  claim(nonce: string, signedAt: number, now = Date.now()): NonceClaim {
    if (signedAt < this.startedAt) return 'stale'
    const expiresAt = signedAt + this.windowMs
    this.expire(now)
    const until = this.seen.get(nonce)
    if (until !== undefined && until >= now) return 'replayed'
    if (this.seen.size >= this.max) return 'full'
    this.seen.delete(nonce)
    this.seen.set(nonce, expiresAt)
    return 'fresh'
  }

  private expire(now: number): void {
    // Entries come roughly in expiry order: drop the expired ones at the front.
    for (const [nonce, until] of this.seen) {
      if (until >= now) break
      this.seen.delete(nonce)
    }
    // Full: look through all of them (a peer's clock ahead of the others' leaves late ones
    // early in the order), at most once a second.
    if (this.seen.size >= this.max && now - this.sweptAt >= SWEEP_MS) {
      this.sweptAt = now
      for (const [nonce, until] of this.seen) if (until < now) this.seen.delete(nonce)
    }
  }
}
