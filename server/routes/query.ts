/** `POST /v1/query`: one statement. */
import { Hono } from 'hono'
import { readBody } from '../http/body.js'
import type { GatewayEnv } from '../http/env.js'
import { queryRequestSchema } from '../http/schemas.js'
import { runQuery } from '../query/run.js'

/** The `/v1/query` route. */
export function queryRoute(): Hono<GatewayEnv> {
  return new Hono<GatewayEnv>().post('/v1/query', async function query(c) {
    const request = await readBody(c, queryRequestSchema)
    const result = await runQuery(
      { tenant: c.get('tenant'), principal: c.get('principal'), signal: c.req.raw.signal },
      request,
    )
    return c.json(result)
  })
}
