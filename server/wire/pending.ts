/**
 * What the relay's queue holds: one request sent to PostgreSQL, or an answer the relay
 * made up, with the message types that complete it. The queue matches PostgreSQL's answers
 * to requests in order (./relay.ts).
 */
import { BACKEND as T } from './message-types.js'

/** The answers that complete each kind of request (a Sync or Query ends at ReadyForQuery). */
export const UNTIL = {
  parse: [T.parseComplete],
  bind: [T.bindComplete],
  describe: [T.rowDescription, T.noData],
  execute: [T.commandComplete, T.emptyQuery, T.portalSuspended],
  close: [T.closeComplete],
  sync: [T.ready],
} as const satisfies Record<string, readonly number[]>

/** One request sent to PostgreSQL (or an answer made up by the relay), awaiting its answer. */
export interface Pending {
  /** Types that complete it; a `sync` one (Sync, Query, FunctionCall) ends at ReadyForQuery. */
  readonly until: readonly number[]
  readonly sync?: boolean
  /** Sent by the gateway: its answers never reach the client. */
  readonly hidden?: boolean
  /** A hidden request whose error the client must see (a statement prepared again for it). */
  readonly showError?: boolean
  /** An answer made up by the relay, sent when the queue reaches it. */
  readonly synthetic?: Buffer
  /** Sent instead of PostgreSQL's error: a refusal made to fail the way PostgreSQL fails. */
  readonly replaceError?: Buffer
  /** ReadyForQuery of a sync request, with the transaction status. */
  onReady?(status: string, message: Buffer): void
  /** It failed, or was skipped after an earlier error (then `fields` is undefined). */
  onError?(fields: Map<string, string> | undefined): void
  /** A DataRow of a hidden query. */
  onRow?(body: Buffer): void
}
