/**
 * Who must acknowledge a member's invalidations, and the writes waiting for them
 * (./channel.ts explains why). A write's wait ends when its own message came back and every
 * member heard from in the last {@link MEMBER_TIMEOUT_MS} acked it, or when its deadline
 * passes ({@link ACK_DEADLINE_MS} after its message was committed), or when the channel
 * closes.
 */

/** Interval of a member's ticks. */
export const TICK_MS = 200
/** A member answers from memory only within this long of its last returned tick's sending. */
export const LEASE_MS = 1000
/** Members not heard from for this long are not waited for (their lease is long gone). */
export const MEMBER_TIMEOUT_MS = 2000
/** A write waits at most this long after its invalidation was committed. */
export const ACK_DEADLINE_MS = Math.ceil(LEASE_MS * 1.25)

interface Wait {
  seq: number
  /** Our own message came back: the members to wait for are known. */
  echoed: boolean
  pending: Set<string>
  resolve: () => void
  timer: ReturnType<typeof setTimeout> | undefined
}

/** The acknowledgements one member waits for. */
export class Acknowledgements {
  /** Other members, by id: when last heard from. */
  private readonly members = new Map<string, number>()
  /** Members heard from since joining, and how many the database said were listening. */
  private readonly heardSinceJoin = new Set<string>()
  private expected = Infinity
  private joinedAt = 0
  /** The highest of our sequence numbers each member acknowledged. */
  private readonly acked = new Map<string, number>()
  private readonly waits: Wait[] = []

  /** `up`: the channel is joined (waits end early only then). */
  constructor(private readonly up: () => boolean) {}

  /** We (re)joined, and the database listed `expected` other listeners. */
  joined(expected: number): void {
    this.expected = expected
    this.heardSinceJoin.clear()
    this.joinedAt = performance.now()
  }

  /** Resolves once message `seq` is applied everywhere (or its deadline passed). */
  expect(seq: number): Promise<void> {
    return new Promise((resolve) => {
      this.waits.push({ seq, echoed: false, pending: new Set(), resolve, timer: undefined })
    })
  }

  /** Message `seq` was committed: its deadline starts. */
  committed(seq: number): void {
    const wait = this.waits.find((w) => w.seq === seq)
    if (wait) wait.timer = setTimeout(() => this.settle(wait), ACK_DEADLINE_MS)
  }

  /** Any message of `member` arrived. */
  heard(member: string): void {
    this.members.set(member, performance.now())
    this.heardSinceJoin.add(member)
  }

  /**
   * `member` left: it answers nothing from memory any more. (A member that rejoins after a
   * gap is still waited for: it acks what it hears from then on, and what it missed before
   * runs into the deadline. Its `h` cannot end waits, since an old one sent again would be
   * taken for a new one by a member that did not hear it the first time.)
   */
  bye(member: string): void {
    this.members.delete(member)
    // Accounted for, as a listener counted at our joining.
    this.heardSinceJoin.add(member)
    for (const wait of [...this.waits]) this.unwait(wait, member)
  }

  /** `member` applied everything of ours up to `seq`. */
  ack(member: string, seq: number): void {
    this.acked.set(member, Math.max(seq, this.acked.get(member) ?? 0))
    for (const wait of [...this.waits])
      if (wait.echoed && seq >= wait.seq) this.unwait(wait, member)
  }

  /** Our message `seq` came back: every member that joined before it is known now. */
  echo(seq: number): void {
    const now = performance.now()
    for (const wait of [...this.waits]) {
      if (wait.echoed || wait.seq > seq) continue
      wait.echoed = true
      for (const [member, heard] of this.members) {
        if (now - heard > MEMBER_TIMEOUT_MS) this.members.delete(member)
        else if ((this.acked.get(member) ?? 0) < wait.seq) wait.pending.add(member)
      }
      this.check(wait)
    }
  }

  /** Ends every wait that has all it needs (call after each message). */
  recheck(): void {
    for (const wait of [...this.waits]) if (wait.echoed) this.check(wait)
  }

  /** Ends every wait (the channel closes). */
  settleAll(): void {
    for (const wait of [...this.waits]) this.settle(wait)
  }

  /**
   * The members listening when we joined are known: each was heard from, or
   * {@link MEMBER_TIMEOUT_MS} passed (a listener that says nothing in that time is not
   * serving from memory).
   */
  get complete(): boolean {
    return (
      this.heardSinceJoin.size >= this.expected ||
      performance.now() - this.joinedAt > MEMBER_TIMEOUT_MS
    )
  }

  private unwait(wait: Wait, member: string): void {
    if (wait.pending.delete(member)) this.check(wait)
  }

  private check(wait: Wait): void {
    if (wait.echoed && wait.pending.size === 0 && this.complete && this.up()) this.settle(wait)
  }

  private settle(wait: Wait): void {
    clearTimeout(wait.timer)
    const i = this.waits.indexOf(wait)
    if (i >= 0) this.waits.splice(i, 1)
    wait.resolve()
  }
}
