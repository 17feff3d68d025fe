/**
 * What a cache-enabled writer's open transaction ran, for its commit to invalidate
 * (./cache-writes.ts). The distinct texts are kept up to a bound: a transaction may run for
 * minutes, and a hostile token could otherwise make the gateway hold every megabyte statement
 * it sent. Past the bound the texts are let go and the commit drops the tenant's whole cache,
 * which is always correct, only slower to refill.
 */

/** The distinct statement text kept per transaction before it counts as "wrote anything". */
export const KEPT_STATEMENT_BYTES = 256 * 1024

/** The statements one transaction ran, or `'all'` once there were too many to keep. */
export class WrittenStatements {
  private readonly texts = new Set<string>()
  private bytes = 0
  private overflowed = false

  /** Notes one statement's text. */
  add(sql: string): void {
    if (this.overflowed || this.texts.has(sql)) return
    this.bytes += sql.length
    if (this.bytes > KEPT_STATEMENT_BYTES) {
      this.overflowed = true
      this.texts.clear()
      return
    }
    this.texts.add(sql)
  }

  /** What ran cannot be told (a wire protocol FunctionCall): the commit drops everything. */
  forget(): void {
    this.overflowed = true
    this.texts.clear()
  }

  /** Nothing was noted. */
  get empty(): boolean {
    return !this.overflowed && this.texts.size === 0
  }

  /** The texts to invalidate by, or `'all'` when they were let go. */
  sqls(): readonly string[] | 'all' {
    return this.overflowed ? 'all' : [...this.texts]
  }
}
