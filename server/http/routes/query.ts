/** `POST /v1/query`: one statement, answered as JSON or, when asked, streamed as NDJSON. */
import { Hono } from 'hono'
import { runQuery } from '../../engine/run.js'
import { streamQuery } from '../../engine/stream.js'
import type { ReportBug } from '../../errors.js'
import { readBody } from '../body.js'
import type { GatewayEnv } from '../env.js'
import { quickQueryRequest, quickStreamRequest } from '../query-request.js'
import { runContext } from '../run-context.js'
import { queryRequestSchema, streamRequestSchema } from '../schemas.js'
import { jsonAnswer } from '../send.js'
import { streamResponse, wantsStream } from '../stream-query.js'

/** The `/v1/query` route. */
export function queryRoute(reportBug: ReportBug): Hono<GatewayEnv> {
  return new Hono<GatewayEnv>().post('/v1/query', async function query(c) {
    if (wantsStream(c.req.header('Accept'))) {
      const request = await readBody(c, streamRequestSchema, undefined, quickStreamRequest)
      return streamResponse(c, request, reportBug, (context, sink) =>
        streamQuery(context, request, sink),
      )
    }
    const request = await readBody(c, queryRequestSchema, undefined, quickQueryRequest)
    return jsonAnswer(c, await runQuery(runContext(c), request))
  })
}
