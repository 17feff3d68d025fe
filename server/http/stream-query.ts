/**
 * Answering one statement as a stream when the request asks for one (NDJSON or COPY text,
 * ./stream-formats.ts): the glue between the engine's streams (server/engine/stream.ts), the
 * stream writer and where it writes. The direct `/v1/query` path writes to Node's response;
 * the Hono routes (`/v1/query` under `app.request()`, `/v1/transactions/{id}/query`) write
 * to Node's response too when they run under the gateway's listener, else to a web stream.
 */
import type { Context } from 'hono'
import type { ErrorCode, SluiceError } from '../../src/errors.js'
import type { StreamRequest } from '../../src/protocol.js'
import type { RunContext } from '../engine/run.js'
import type { StreamSink, StreamSummary } from '../engine/stream.js'
import type { ReportBug } from '../errors.js'
import { LightSignal, type AbortLike } from '../lifecycle/abort.js'
import type { GatewayEnv } from './env.js'
import { toResponseError } from './errors.js'
import { streamFormat, type StreamMediaType } from './stream-formats.js'
import { nodeTarget, webTarget } from './stream-target.js'
import { StreamWriter, type StreamTarget } from './stream-writer.js'
import { nodeBindings } from './node-request.js'
import { runContext } from './run-context.js'
export { acceptedStream } from './stream-formats.js'

/** One stream to write. */
export interface StreamJob {
  requestId: string
  /** The media type the request's `Accept` header chose. */
  mediaType: StreamMediaType
  request: StreamRequest
  /** Runs the statement, its rows into `sink`. */
  run: (sink: StreamSink) => Promise<StreamSummary>
  /** The error to show for what was thrown once the answer began. */
  errorOf: (error: unknown) => SluiceError
  /** Whether the gateway drains, asked when the answer begins. */
  draining: () => boolean
}

/** The headers of a streamed answer. */
function streamHeaders(
  requestId: string,
  mediaType: string,
  draining: boolean,
): Record<string, string> {
  const headers: Record<string, string> = {
    'content-type': mediaType,
    'x-request-id': requestId,
    'cache-control': 'no-store',
    // Proxies such as nginx would otherwise gather the rows before passing them on.
    'x-accel-buffering': 'no',
  }
  // Draining: the client reconnects (elsewhere) for its next request, as after any answer.
  if (draining) headers.connection = 'close'
  return headers
}

/**
 * Writes a stream to `target`. Resolves with the code of its error line, or '' when it
 * succeeded; rejects with the error when it failed before the answer began (answer it as
 * any error).
 */
export async function writeStream(target: StreamTarget, job: StreamJob): Promise<ErrorCode | ''> {
  const format = streamFormat(job.mediaType, job.request.rowMode)
  const writer = new StreamWriter(target, format, () =>
    streamHeaders(job.requestId, format.mediaType, job.draining()),
  )
  let summary: StreamSummary
  try {
    summary = await job.run(writer)
  } catch (error) {
    if (!writer.opened) throw error
    const sluice = job.errorOf(error)
    writer.fail(sluice.toBody())
    return sluice.code
  }
  writer.finish(summary)
  return ''
}

// @hono/node-server writes nothing for a response carrying this header.
const ALREADY_SENT = { 'x-hono-already-sent': 'true' }

/** Aborts when either signal does. */
function eitherSignal(first: AbortLike, second: LightSignal): LightSignal {
  if (first.aborted) second.abort()
  else first.addEventListener('abort', () => second.abort(), { once: true })
  return second
}

/**
 * Answers a Hono route with a stream: `run` gets the request's run context (with a signal
 * that also aborts when the stream's reader goes away) and the sink.
 */
export async function streamResponse(
  c: Context<GatewayEnv>,
  mediaType: StreamMediaType,
  request: StreamRequest,
  reportBug: ReportBug,
  run: (context: RunContext, sink: StreamSink) => Promise<StreamSummary>,
): Promise<Response> {
  const requestId = c.get('requestId')
  const base = runContext(c)
  const cancelled = new LightSignal()
  const signal = base.signal === undefined ? cancelled : eitherSignal(base.signal, cancelled)
  const context = { ...base, signal }
  const job: StreamJob = {
    requestId,
    mediaType,
    request,
    run: (sink) => run(context, sink),
    errorOf: (error) => toResponseError(error, { aborted: signal.aborted, requestId }, reportBug),
    draining: c.get('draining'),
  }
  const { outgoing } = nodeBindings(c)
  if (outgoing && typeof outgoing.writeHead === 'function') {
    // Written on Node's response, so the request's log line waits for the stream's end.
    const cors = c.get('corsHeaders')?.(c.get('tenant')) ?? {}
    const code = await writeStream(nodeTarget(outgoing, cors), job)
    if (code !== '') c.set('errorCode', code)
    return new Response(null, { headers: ALREADY_SENT })
  }
  const target = webTarget(() => cancelled.abort())
  const done = writeStream(target, job)
  done.catch(() => {})
  const headers = await Promise.race([target.opened, done.then(() => target.opened)])
  return new Response(target.body, { status: 200, headers })
}
