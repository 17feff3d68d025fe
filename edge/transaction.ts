/**
 * `transaction(async (tx) => …)`: an interactive transaction over the protocol's
 * `/v1/transactions` endpoints. It commits when the callback resolves and rolls back when it
 * throws, then passes the error on. Statements go one at a time, in call order.
 */
import type { ParseOptions } from '../src/codecs/parse.js'
import {
  PATHS,
  type BeginRequest,
  type BeginResult,
  type QueryResult as WireResult,
} from '../src/protocol.js'
import { queryable, type Queryable } from './queryable.js'
import { call, statementTimeout, type Transport } from './transport.js'

/** Options of `transaction`: how it begins, and the gateway's limits on it. */
export interface TransactionRunOptions extends BeginRequest {
  /** Aborts the begin, and the statement in flight when it fires. */
  signal?: AbortSignal | undefined
}

/** An open transaction: `query` and `sql` run inside it. */
export interface Transaction extends Queryable {
  /** The gateway's id of the transaction. */
  readonly id: string
}

/** Runs `callback` in a transaction on `t`. */
export async function runTransaction<T>(
  t: Transport,
  defaults: ParseOptions,
  callback: (tx: Transaction) => Promise<T>,
  options: TransactionRunOptions = {},
): Promise<T> {
  const { signal, ...begin } = options
  const { id } = await call<BeginResult>(t, PATHS.transactions, begin, { signal })
  const base = `${PATHS.transactions}/${encodeURIComponent(id)}`
  // The gateway runs one statement at a time; keeping call order on this side too means
  // un-awaited statements still run in the order they were written.
  let queue: Promise<unknown> = Promise.resolve()
  const inOrder = <R>(work: () => Promise<R>): Promise<R> => {
    const next = queue.then(work)
    queue = next.catch(() => {})
    return next
  }
  const tx: Transaction = {
    id,
    ...queryable(
      (request, callOptions) =>
        inOrder(() =>
          call<WireResult>(
            t,
            `${base}/query`,
            { ...request, timeoutMs: statementTimeout(t, callOptions) },
            { signal, ...callOptions, retryAnswers: false },
          ),
        ),
      defaults,
    ),
  }
  let result: T
  try {
    result = await callback(tx)
  } catch (error) {
    // Best effort: should this fail too, the gateway rolls back on its idle timeout.
    await inOrder(() => call(t, `${base}/rollback`, {}, { retryAnswers: false })).catch(() => {})
    throw error
  }
  await inOrder(() => call(t, `${base}/commit`, {}, { retryAnswers: false }))
  return result
}
