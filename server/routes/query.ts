/** `POST /v1/query`: one statement. */
import { Hono } from 'hono'
import { readBody } from '../http/body.js'
import type { GatewayEnv } from '../http/env.js'
import { quickQueryRequest } from '../http/query-request.js'
import { runContext } from '../http/run-context.js'
import { queryRequestSchema } from '../http/schemas.js'
import { runQuery } from '../query/run.js'

/** The `/v1/query` route. */
export function queryRoute(): Hono<GatewayEnv> {
  return new Hono<GatewayEnv>().post('/v1/query', async function query(c) {
    const request = await readBody(c, queryRequestSchema, undefined, quickQueryRequest)
    return c.json(await runQuery(runContext(c), request))
  })
}
