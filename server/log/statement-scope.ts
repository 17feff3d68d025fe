/**
 * How a statement's timing reaches the logs and metrics of the request that ran it:
 * `execute()` wraps each client statement in {@link timeStatement}, which reports to the
 * scope the request middleware opened (an AsyncLocalStorage, so no parameter has to be
 * threaded through the query code). Outside a scope, timing costs nothing and reports
 * nowhere.
 */
import { AsyncLocalStorage } from 'node:async_hooks'

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

const scopes = new AsyncLocalStorage<StatementScope>()

/** Runs `work` (a request) with `scope` receiving its statements. */
export function withStatementScope<T>(scope: StatementScope, work: () => T): T {
  return scopes.run(scope, work)
}

/** Runs one client statement and reports its duration and outcome to the current scope. */
export async function timeStatement<T extends { rowCount: number | null }>(
  tenant: string,
  request: { sql: string; params?: readonly unknown[] | undefined },
  run: () => Promise<T>,
): Promise<T> {
  const scope = scopes.getStore()
  if (!scope) return run()
  const started = performance.now()
  const base = { tenant, sql: request.sql, params: request.params }
  try {
    const outcome = await run()
    scope.statement({ ...base, ms: performance.now() - started, rowCount: outcome.rowCount })
    return outcome
  } catch (error) {
    scope.statement({ ...base, ms: performance.now() - started, error })
    throw error
  }
}
