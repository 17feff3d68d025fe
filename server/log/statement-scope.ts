/**
 * How a statement's timing reaches the logs and metrics of the request that ran it: the
 * request middleware opens a {@link StatementScope} and puts it on the request's context;
 * `execute()` wraps each client statement in {@link timeStatement}, which reports to it.
 * Passed explicitly rather than through AsyncLocalStorage, which on Node 20 hooks every
 * promise of every request (about a quarter of the gateway's throughput, bench/NOTES.md).
 */

/** One client statement, as it finished. */
export interface StatementReport {
  tenant: string
  sql: string
  params: readonly unknown[] | undefined
  ms: number
  /** Rows returned or affected, when it succeeded. */
  rowCount?: number | null
  /** The error, when it failed. */
  error?: unknown
}

/** Receives the statements of one request. */
export interface StatementScope {
  statement(report: StatementReport): void
}

/** Runs one client statement and reports its duration and outcome to `scope`, if any. */
export function timeStatement<T extends { rowCount: number | null }>(
  scope: StatementScope | undefined,
  tenant: string,
  request: { sql: string; params?: readonly unknown[] | undefined },
  run: () => Promise<T>,
): Promise<T> {
  if (!scope) return run()
  const started = performance.now()
  const { sql, params } = request
  // Plain callbacks rather than async/await: this wraps every statement.
  return run().then(
    (outcome) => {
      const ms = performance.now() - started
      scope.statement({ tenant, sql, params, ms, rowCount: outcome.rowCount })
      return outcome
    },
    (error: unknown) => {
      scope.statement({ tenant, sql, params, ms: performance.now() - started, error })
      throw error
    },
  )
}
