/**
 * Pool statistics, named after psycopg_pool's get_stats() keys in camelCase
 * (pool_size → poolSize); docs/operations.md maps each one.
 */

/** A snapshot of one tenant pool. Counters grow from the pool's start. */
export interface PoolStats {
  /** Configured minimum (psycopg: pool_min). */
  poolMin: number
  /** Configured maximum (pool_max). */
  poolMax: number
  /** Connections open or being opened (pool_size). */
  poolSize: number
  /** Idle connections ready to hand out (pool_available). */
  poolAvailable: number
  /** Connections lent to requests. */
  poolInUse: number
  /** Requests waiting for a connection now (requests_waiting). */
  requestsWaiting: number
  /** How long the oldest waiting request has waited, in ms. */
  longestWaitMs: number
  /** Connection requests since start (requests_num). */
  requestsNum: number
  /** Requests that had to wait (requests_queued). */
  requestsQueued: number
  /** Total time requests spent waiting, in ms (requests_wait_ms). */
  requestsWaitMs: number
  /** Requests that got no connection: timeout, queue full, database down (requests_errors). */
  requestsErrors: number
  /** Connections returned broken or inside a transaction (returns_bad). */
  returnsBad: number
  /** Connection attempts (connections_num). */
  connectionsNum: number
  /** Total time spent opening connections, in ms (connections_ms). */
  connectionsMs: number
  /** Failed connection attempts (connections_errors). */
  connectionsErrors: number
  /** Connections found broken while idle or by a health check (connections_lost). */
  connectionsLost: number
  /** Connections closed by the pool (lifetime, idleness, discard). */
  connectionsClosed: number
  /** Session resets: one per borrow whose connection is kept (docs/pooling.md). */
  sessionResets: number
}

type Counter =
  | 'requestsNum'
  | 'requestsQueued'
  | 'requestsWaitMs'
  | 'requestsErrors'
  | 'returnsBad'
  | 'connectionsNum'
  | 'connectionsMs'
  | 'connectionsErrors'
  | 'connectionsLost'
  | 'connectionsClosed'
  | 'sessionResets'

/** Zeroed counters for a new pool. */
export function emptyStats(): Pick<PoolStats, Counter> {
  return {
    requestsNum: 0,
    requestsQueued: 0,
    requestsWaitMs: 0,
    requestsErrors: 0,
    returnsBad: 0,
    connectionsNum: 0,
    connectionsMs: 0,
    connectionsErrors: 0,
    connectionsLost: 0,
    connectionsClosed: 0,
    sessionResets: 0,
  }
}
