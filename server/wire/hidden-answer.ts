/**
 * The answer of a gateway query the client never sees (a session reset, a session-state
 * probe, a READ ONLY BEGIN), as the relay hands it over.
 */

/** What a hidden query returned. */
export interface HiddenResult {
  /** The transaction status after it ('' when the connection was lost). */
  status: string
  error: Map<string, string> | undefined
  rows: Buffer[]
}

/**
 * A hidden query sent now whose answer is taken later by one callback (the session reset
 * behind a client's last Sync, taken by ./lease.ts): no promise per transaction.
 */
export class HiddenAnswer {
  private result: HiddenResult | undefined
  private taker: ((result: HiddenResult) => void) | undefined

  /** Calls `taker` with the answer, now if it came already. */
  take(taker: (result: HiddenResult) => void): void {
    if (this.result) taker(this.result)
    else this.taker = taker
  }

  /** The answer came. */
  settle(result: HiddenResult): void {
    this.result = result
    this.taker?.(result)
    this.taker = undefined
  }
}
