/** `POST /v1/query`: one statement. */
import { Hono } from 'hono'
import { readBody } from '../body.js'
import type { GatewayEnv } from '../env.js'
import { quickQueryRequest } from '../query-request.js'
import { runContext } from '../run-context.js'
import { queryRequestSchema } from '../schemas.js'
import { CACHE_HEADER } from '../../../src/protocol.js'
import { runCachedQuery } from '../../engine/cached-query.js'
import { runQuery } from '../../engine/run.js'

/** The `/v1/query` route. */
export function queryRoute(): Hono<GatewayEnv> {
  return new Hono<GatewayEnv>().post('/v1/query', async function query(c) {
    const request = await readBody(c, queryRequestSchema, undefined, quickQueryRequest)
    if (request.cache === undefined) return c.json(await runQuery(runContext(c), request))
    const cached = await runCachedQuery(runContext(c), { ...request, cache: request.cache })
    return c.body(cached.body, 200, {
      'Content-Type': 'application/json',
      [CACHE_HEADER]: cached.cache,
    })
  })
}
