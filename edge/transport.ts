/**
 * One protocol call over fetch: the bearer token, the JSON body, a deadline that covers
 * every attempt (an AbortSignal aborts the request in flight when it passes), retries with
 * backoff where they are safe, and errors rebuilt from the answer.
 */
import { ClientError, errorFromResponse, isClientError, isGatewayError } from './errors.js'
import { backoff, neverSent, type RetryPolicy } from './retry.js'

/** The fetch the client calls: the global one, or yours (a test app, a service binding). */
export type Fetch = (url: string, init: RequestInit) => Promise<Response>

/** What every call of one client shares. */
export interface Transport {
  url: string
  /** Sent with every request: the bearer token, the JSON content type, the caller's extras. */
  headers: Record<string, string>
  fetch: Fetch
  timeoutMs: number
  retry: RetryPolicy | false
}

/** Per-call options. */
export interface CallOptions {
  /** Deadline for the call, retries included. @default the client's `timeoutMs` */
  timeoutMs?: number | undefined
  /** Aborts the call; it then rejects with the signal's reason. */
  signal?: AbortSignal | undefined
}

/** The statement timeout to send: the call's deadline, in whole milliseconds. */
export const statementTimeout = (t: Transport, options: CallOptions): number =>
  Math.ceil(options.timeoutMs ?? t.timeoutMs)

/** Inside a transaction only requests that never left may be retried: the gateway's own
 * `retryable` speaks of a statement on its own, not of one inside an open transaction. */
interface Attempts extends CallOptions {
  retryAnswers?: boolean
}

async function attempt(
  t: Transport,
  path: string,
  body: unknown,
  answer: string,
  deadline: number,
  signal: AbortSignal | undefined,
  delay: number,
): Promise<unknown> {
  signal?.throwIfAborted()
  const controller = new AbortController()
  let timedOut = false
  const timer = setTimeout(
    () => {
      timedOut = true
      controller.abort()
    },
    Math.max(0, deadline - Date.now()),
  )
  const abort = (): void => controller.abort(signal?.reason)
  signal?.addEventListener('abort', abort)
  // Keeps the deadline even with a fetch that ignores its signal (an in-process app, say).
  const aborted = new Promise<never>((_, reject) => {
    controller.signal.addEventListener('abort', () => reject(controller.signal.reason))
  })
  aborted.catch(() => {})
  let pause: ReturnType<typeof setTimeout> | undefined
  try {
    let response: Response
    let text: string
    try {
      // The wait before a retry, under the same deadline and signal as the request.
      if (delay > 0) {
        await Promise.race([
          aborted,
          new Promise((resolve) => (pause = setTimeout(resolve, delay))),
        ])
      }
      response = await Promise.race([
        aborted,
        t.fetch(t.url + path, {
          method: 'POST',
          headers: t.headers,
          body: JSON.stringify(body),
          signal: controller.signal,
        }),
      ])
      text = await Promise.race([aborted, response.text()])
    } catch (error) {
      if (signal?.aborted) throw signal.reason
      // Only a failure to connect proves the statement did not run; anything later may
      // come after the gateway received it.
      throw new ClientError(
        timedOut ? 'CLIENT_TIMEOUT' : 'NETWORK_ERROR',
        timedOut ? 'no answer from the gateway in time' : 'the request to the gateway failed',
        { retryable: !timedOut && neverSent(error), cause: error },
      )
    }
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      // Not JSON: a bad response, below.
    }
    // An answer without its field (`{}` from a proxy, say) is not the protocol's either.
    if (!response.ok || (json as Record<string, unknown> | null)?.[answer] == null) {
      throw errorFromResponse(json, response)
    }
    return json
  } finally {
    clearTimeout(timer)
    clearTimeout(pause)
    signal?.removeEventListener('abort', abort)
  }
}

/**
 * POSTs `body` to `path` and returns the parsed answer, which must have its field `answer`
 * (`rows`, `id`…). Retries where safe while the deadline allows the wait; otherwise rejects
 * with the last error.
 */
export async function call<T>(
  t: Transport,
  path: string,
  body: unknown,
  answer: keyof T & string,
  options: Attempts = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? t.timeoutMs)
  let wait = 0
  for (let n = 0; ; n++) {
    try {
      return (await attempt(t, path, body, answer, deadline, options.signal, wait)) as T
    } catch (error) {
      const safe = isClientError(error)
        ? error.retryable
        : isGatewayError(error) && error.retryable && options.retryAnswers !== false
      if (!safe || t.retry === false || n >= t.retry.retries) throw error
      wait = backoff(t.retry, n, isGatewayError(error) ? error.retryAfter : 0)
      if (Date.now() + wait >= deadline) throw error
    }
  }
}
