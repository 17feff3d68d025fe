/**
 * Streaming one statement (`Accept: application/x-ndjson`, or COPY text): its rows go to a
 * sink as they arrive instead of into one answer. The sink paces them with the connection's flow control
 * (pausing the socket PostgreSQL writes to), so a stream holds a few chunks in memory
 * whatever its size and however slowly its client reads. The tenant's `stream.maxRows` and
 * `stream.maxBytes` bound the whole stream and `maxResultBytes` each row; the statement
 * timeout and the client's disconnect cancel it as they cancel any statement.
 */
import { SluiceError } from '../../src/errors.js'
import type { QueryRequest } from '../../src/protocol.js'
import { timeStatement } from '../log/statement-scope.js'
import type { Connection } from '../pool/connection.js'
import type { RowSink } from '../pool/statement.js'
import { resultTooLarge, streamLimits } from './result-limits.js'
import { runSingle, toText, type RunContext } from './run.js'

/** Pauses and resumes a stream's rows. */
export interface Flow {
  pause(): void
  resume(): void
}

/** Where a stream's rows go: the HTTP side writes them out as they come. */
export interface StreamSink extends RowSink {
  /** Called once, when the statement is about to run, with the flow control of its rows. */
  begin(flow: Flow): void
}

/** How a stream ended: the command tag's verb and count. */
export interface StreamSummary {
  command: string
  rowCount: number | null
}

/** Streams `request` on a borrowed `connection` (readonly handling is the caller's). */
export async function streamOn(
  connection: Connection,
  context: Pick<RunContext, 'tenant' | 'statements'>,
  request: QueryRequest,
  sink: StreamSink,
): Promise<StreamSummary> {
  const { tenant } = context
  sink.begin({
    pause: () => connection.pauseReading(),
    resume: () => connection.resumeReading(),
  })
  const options = { text: request.sql, values: toText(request.params), ...streamLimits(tenant) }
  const outcome = await timeStatement(context.statements, tenant.name, request, () =>
    connection.stream(options, sink),
  )
  if (outcome.tooLarge) throw resultTooLarge(tenant, outcome.tooLarge, true)
  // A cancel that came too late to stop the statement still dropped rows on the way: the
  // stream is incomplete, so it must not end as a success.
  if (connection.cancelled) {
    throw new SluiceError('STATEMENT_TIMEOUT', 'canceling statement due to statement timeout')
  }
  return { command: outcome.command, rowCount: outcome.rowCount }
}

/** `POST /v1/query` with `Accept: application/x-ndjson`: one statement, streamed. */
export function streamQuery(
  context: RunContext,
  request: QueryRequest,
  sink: StreamSink,
): Promise<StreamSummary> {
  return runSingle(context, request, (connection) => streamOn(connection, context, request, sink))
}
