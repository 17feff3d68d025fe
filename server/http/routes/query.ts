/**
 * `POST /v1/query`: one statement, answered as JSON (from the tenant's cache when the
 * request asks and the statement may be cached: docs/cache.md) or, when asked, streamed
 * as NDJSON.
 */
import { Hono } from 'hono'
import { CACHE_HEADER } from '../../../src/protocol.js'
import { runCachedQuery } from '../../engine/cached-query.js'
import { runQuery } from '../../engine/run.js'
import { streamQuery } from '../../engine/stream.js'
import type { ReportBug } from '../../errors.js'
import { readBody } from '../body.js'
import type { GatewayEnv } from '../env.js'
import { quickQueryRequest, quickStreamRequest } from '../query-request.js'
import { runContext } from '../run-context.js'
import { queryRequestSchema, streamRequestSchema } from '../schemas.js'
import { jsonAnswer } from '../send.js'
import { acceptedStream, streamResponse } from '../stream-query.js'

/** The `/v1/query` route. */
export function queryRoute(reportBug: ReportBug): Hono<GatewayEnv> {
  return new Hono<GatewayEnv>().post('/v1/query', async function query(c) {
    const mediaType = acceptedStream(c.req.header('Accept'))
    if (mediaType !== undefined) {
      const request = await readBody(c, streamRequestSchema, undefined, quickStreamRequest)
      return streamResponse(c, mediaType, request, reportBug, (context, sink) =>
        streamQuery(context, request, sink),
      )
    }
    const request = await readBody(c, queryRequestSchema, undefined, quickQueryRequest)
    if (request.cache === undefined) return jsonAnswer(c, await runQuery(runContext(c), request))
    const cached = await runCachedQuery(runContext(c), { ...request, cache: request.cache })
    return c.body(cached.body, 200, {
      'Content-Type': 'application/json',
      [CACHE_HEADER]: cached.cache,
    })
  })
}
