/**
 * When and how long to wait before trying a call again. Only answers the gateway marks
 * `retryable: true`, and network failures that prove the request never left (refused
 * connection, unknown host), are retried: never a statement that may have run.
 */

/** Retry settings; `retry: false` in the client options turns retries off. */
export interface RetryOptions {
  /** Retries after the first attempt. @default 2 */
  retries?: number | undefined
  /** Backoff before the first retry; it doubles each time. @default 100 */
  baseDelayMs?: number | undefined
  /** Cap on one backoff. @default 2000 */
  maxDelayMs?: number | undefined
}

/** Retry settings with every default filled in. */
export type RetryPolicy = Required<{ [K in keyof RetryOptions]: number }>

/** Fills in the defaults of `options`. */
export function retryPolicy(options: RetryOptions | false | undefined): RetryPolicy | false {
  if (options === false) return false
  return {
    retries: options?.retries ?? 2,
    baseDelayMs: options?.baseDelayMs ?? 100,
    maxDelayMs: options?.maxDelayMs ?? 2000,
  }
}

// Failures to connect: the request was never sent, whatever the runtime calls them.
const NEVER_SENT = /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|UND_ERR_CONNECT_TIMEOUT|connection ?refused/i

/** True when a fetch failure shows the request never reached the server. */
export function neverSent(error: unknown): boolean {
  // Node puts the system error in `cause`; Bun and Deno on the error itself.
  const e = error as { code?: unknown; message?: unknown; cause?: typeof error } | undefined
  const c = e?.cause as typeof e
  return NEVER_SENT.test(`${e?.code} ${e?.message} ${c?.code} ${c?.message}`)
}

/**
 * Milliseconds to wait before retry number `attempt + 1` (0-based `attempt`): capped
 * exponential backoff with equal jitter (half fixed, half random), never less than the
 * gateway's `Retry-After`.
 */
export function backoff(policy: RetryPolicy, attempt: number, retryAfterSeconds = 0): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt)
  return Math.max(cap / 2 + (Math.random() * cap) / 2, retryAfterSeconds * 1000)
}
