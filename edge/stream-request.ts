/**
 * Sending a stream's request: one POST asking for COPY text first (NDJSON from a gateway that
 * predates it), retried where that is safe before any row came, until a response whose body
 * is a stream of rows is had (./row-reader.ts reads it).
 */
import { COPY_TEXT_MEDIA_TYPE, NDJSON_MEDIA_TYPE, type StreamRequest } from '../src/protocol.js'
import { ClientError, errorFromResponse, isClientError, isGatewayError } from './errors.js'
import { backoff, neverSent } from './retry.js'
import type { StreamTarget } from './stream.js'
import type { Transport } from './transport.js'

/** COPY text first; NDJSON from a gateway without it. */
const ACCEPT = `${COPY_TEXT_MEDIA_TYPE}, ${NDJSON_MEDIA_TYPE};q=0.5`

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Sends the request until a response is had, retrying where safe before any row. */
export async function openStream(
  t: Transport,
  target: StreamTarget,
  body: StreamRequest,
  deadline: number,
  controller: AbortController,
  timedOut: () => boolean,
): Promise<Response> {
  for (let n = 0; ; n++) {
    let failure: unknown
    try {
      const response = await t.fetch(t.url + target.path, {
        method: 'POST',
        headers: { ...t.headers, accept: ACCEPT },
        body: JSON.stringify(body),
        signal: controller.signal,
      })
      // Rows come as NDJSON or COPY text; anything else (a proxy's page) is a bad response.
      const type = (response.headers.get('content-type') ?? '').toLowerCase()
      if (
        response.ok &&
        response.body &&
        (type.startsWith(NDJSON_MEDIA_TYPE) || type.startsWith(COPY_TEXT_MEDIA_TYPE))
      )
        return response
      const text = await response.text()
      let json: unknown
      try {
        json = JSON.parse(text)
      } catch {
        // Not JSON: a bad response, below.
      }
      failure = errorFromResponse(json, response)
    } catch (error) {
      if (controller.signal.aborted && !timedOut()) throw controller.signal.reason
      failure = new ClientError(
        timedOut() ? 'CLIENT_TIMEOUT' : 'NETWORK_ERROR',
        timedOut() ? 'no answer from the gateway in time' : 'the request to the gateway failed',
        { retryable: !timedOut() && neverSent(error), cause: error },
      )
    }
    const safe = isClientError(failure)
      ? failure.retryable
      : isGatewayError(failure) && failure.retryable && target.retryAnswers
    if (!safe || t.retry === false || n >= t.retry.retries) throw failure
    const wait = backoff(t.retry, n, isGatewayError(failure) ? failure.retryAfter : 0)
    if (Date.now() + wait >= deadline) throw failure
    await sleep(wait)
  }
}
