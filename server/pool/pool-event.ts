/**
 * What a pool tells its owner about its connections, for the log lines (server/log/) and
 * the metrics (server/metrics/).
 */

/** Something that happened to a pool's connections, for logs and metrics. */
export type PoolEvent =
  | { type: 'opened'; pid: number; ms: number }
  | { type: 'connect-failed'; error: unknown }
  | { type: 'lost'; pid: number }
  | { type: 'recycled'; pid: number; reason: 'lifetime' | 'idle' | 'discarded' | 'reset-failed' }
  | { type: 'health-check-failed'; pid: number }
  /** A request got a connection after waiting `waitMs` (0 when one was idle). */
  | { type: 'acquired'; waitMs: number }
  | { type: 'paused' }
  | { type: 'resumed' }
  /** A borrower gave a connection back after holding it `heldMs` (psycopg_pool's usage_ms). */
  | { type: 'released'; heldMs: number }
  | { type: 'held-too-long'; pid: number; ms: number; holder: string | undefined }
