/**
 * The named prepared statements of one connection, as psycopg keeps them: a statement is
 * prepared once the connection has run its text `threshold` times (psycopg's
 * prepare_threshold), and at most `max` stay prepared (prepared_max), the least recently
 * used being closed to make room. A prepared statement saves PostgreSQL the parse and plan
 * of every later run, which a transaction pooler like PgBouncer cannot do for its clients.
 * Names are `sluice_<connection>_<n>`, never reused on a connection.
 */

/** Options of {@link PreparedStatements}. */
export interface PreparedOptions {
  /** Runs of a text before it is prepared; 0 = at once, `null` = never. */
  threshold: number | null
  /** Statements kept prepared. */
  max: number
}

/**
 * Longer texts are never counted nor prepared: each counted text is a key here, up to `max`
 * per connection, so megabyte statements would hold a gigabyte across a pool; and a text
 * this long costs more to send than to parse. (server/engine/analyze.ts bounds its cache
 * the same way.)
 */
const PREPARED_TEXT_CHARS = 64 * 1024

/** How to run a text now: unnamed (`name` undefined), or under `name`. */
export interface PreparedPlan {
  name?: string
  /** `name` already exists on the connection: bind it, do not parse. */
  prepared?: boolean
  /** A statement to close first, to make room. */
  close?: string
}

/** One connection's prepared statements. */
export class PreparedStatements {
  // Both maps are in least-recently-used-first order.
  private readonly names = new Map<string, string>()
  private readonly runs = new Map<string, number>()
  /** Statements prepared for wire clients (server/wire/), by text and parameter types. */
  private readonly wire = new Map<string, string>()
  private next = 1

  constructor(
    private readonly prefix: string,
    private readonly options: PreparedOptions,
  ) {}

  /** How many statements are prepared now. */
  get size(): number {
    return this.names.size
  }

  /** Statements of the gateway's, its own and wire clients', prepared on the connection. */
  get count(): number {
    return this.names.size + this.wire.size
  }

  /** No statement of the gateway's, its own or a wire client's, is prepared on the connection. */
  get empty(): boolean {
    return this.names.size === 0 && this.wire.size === 0
  }

  /** Decides how to run `text`, and counts the run. */
  plan(text: string): PreparedPlan {
    const { threshold, max } = this.options
    if (threshold === null || text.length > PREPARED_TEXT_CHARS) return {}
    const name = this.names.get(text)
    if (name !== undefined) {
      this.names.delete(text)
      this.names.set(text, name)
      return { name, prepared: true }
    }
    const runs = (this.runs.get(text) ?? 0) + 1
    this.runs.delete(text)
    if (runs <= threshold) {
      this.runs.set(text, runs)
      if (this.runs.size > max) this.runs.delete(this.runs.keys().next().value!)
      return {}
    }
    const plan: PreparedPlan = { name: `${this.prefix}_${this.next++}` }
    if (this.names.size >= max) {
      const [oldest, closing] = this.names.entries().next().value!
      this.names.delete(oldest)
      plan.close = closing
    }
    // Recorded now, whatever the outcome: should the parse have failed, the next bind says
    // so (26000) and the caller forgets it and runs the text unnamed.
    this.names.set(text, plan.name!)
    return plan
  }

  /** Forgets `text`'s statement (its plan went stale, or it does not exist). */
  forget(text: string): void {
    this.names.delete(text)
  }

  /** Forgets everything: DISCARD ALL deallocated the statements on the server. */
  clear(): void {
    this.names.clear()
    this.runs.clear()
    this.wire.clear()
  }

  /**
   * The name under which a wire client's statement (`key`: its text and parameter types) is
   * prepared on this connection, if it is; marks it recently used.
   */
  wireName(key: string): string | undefined {
    const name = this.wire.get(key)
    if (name !== undefined) {
      this.wire.delete(key)
      this.wire.set(key, name)
    }
    return name
  }

  /**
   * Names a wire client's statement about to be prepared on this connection (up to `max`
   * of them, as PgBouncer's max_prepared_statements); `close` is one to close first.
   */
  wirePrepare(key: string): { name: string; close?: string } {
    const plan: { name: string; close?: string } = { name: `${this.prefix}_${this.next++}` }
    if (this.wire.size >= Math.max(1, this.options.max)) {
      const [oldest, closing] = this.wire.entries().next().value!
      this.wire.delete(oldest)
      plan.close = closing
    }
    this.wire.set(key, plan.name)
    return plan
  }

  /** Forgets a wire statement (its Parse failed, or PostgreSQL no longer has it). */
  wireForget(key: string): void {
    this.wire.delete(key)
  }
}

/**
 * Errors after which a prepared statement is dropped and its text run again unnamed:
 * `cached plan must not change result type` (a table's columns changed since it was
 * prepared) and `prepared statement ... does not exist`. Both are raised before the
 * statement runs, so running it again does not run it twice.
 */
export function isStalePlan(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown }
  if (code === '26000') return true
  return code === '0A000' && typeof message === 'string' && message.includes('cached plan')
}
