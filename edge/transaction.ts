/**
 * Interactive transactions over the protocol's `/v1/transactions` endpoints: `begin` opens
 * one and hands back its handle (`query`, `sql`, `commit`, `rollback`); `transaction(async
 * (tx) => …)` commits when the callback resolves and rolls back when it throws, then passes
 * the error on. Statements go one at a time, in call order.
 */
import type { ParseOptions } from '../src/codecs/parse.js'
import {
  PATHS,
  type BeginRequest,
  type BeginResult,
  type EndResult,
  type QueryResult as WireResult,
} from '../src/protocol.js'
import { queryable, type Queryable } from './queryable.js'
import { call, type CallOptions, type Transport } from './transport.js'

/** Options of `begin` and `transaction`: how it begins, and the gateway's limits on it. */
export interface TransactionRunOptions extends BeginRequest {
  /** Aborts the begin, and the statement in flight when it fires (never a commit or rollback). */
  signal?: AbortSignal | undefined
}

/** An open transaction: `query` and `sql` run inside it. */
export interface Transaction extends Queryable {
  /** The gateway's id of the transaction. */
  readonly id: string
}

/**
 * A transaction opened by `begin`, ended by the caller: exactly one `commit` or `rollback`.
 * One never ended is rolled back by the gateway after its idle timeout.
 */
export interface TransactionHandle extends Transaction {
  /** Commits. Rejects with the gateway's error if it cannot (the transaction is then over). */
  commit(): Promise<EndResult>
  /** Rolls back. */
  rollback(): Promise<EndResult>
}

/** Opens a transaction on `t`. */
export async function begin(
  t: Transport,
  defaults: ParseOptions,
  options: TransactionRunOptions = {},
): Promise<TransactionHandle> {
  const { signal, ...request } = options
  const { id } = await call<BeginResult>(t, PATHS.transactions, request, 'id', { signal })
  // The gateway runs one statement at a time; keeping call order on this side too means
  // un-awaited statements still run in the order they were written. Inside a transaction
  // only requests that never left are retried: `retryable` speaks of a statement on its own.
  let queue: Promise<unknown> = Promise.resolve()
  const send = <R>(
    path: string,
    body: unknown,
    answer: keyof R & string,
    callOptions: CallOptions = {},
  ): Promise<R> => {
    const next = queue.then(() =>
      call<R>(t, `${PATHS.transactions}/${encodeURIComponent(id)}/${path}`, body, answer, {
        ...callOptions,
        retryAnswers: false,
      }),
    )
    queue = next.catch(() => {})
    return next
  }
  return {
    id,
    ...queryable(
      t,
      (query, callOptions) => send<WireResult>('query', query, 'rows', { signal, ...callOptions }),
      defaults,
    ),
    commit: () => send<EndResult>('commit', {}, 'committed'),
    rollback: () => send<EndResult>('rollback', {}, 'committed'),
  }
}

/** Runs `callback` in a transaction on `t`. */
export async function runTransaction<T>(
  t: Transport,
  defaults: ParseOptions,
  callback: (tx: Transaction) => Promise<T>,
  options?: TransactionRunOptions,
): Promise<T> {
  const tx = await begin(t, defaults, options)
  let result: T
  try {
    result = await callback(tx)
  } catch (error) {
    // Best effort: should this fail too, the gateway rolls back on its idle timeout.
    await tx.rollback().catch(() => {})
    throw error
  }
  await tx.commit()
  return result
}
