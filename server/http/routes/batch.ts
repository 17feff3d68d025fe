/** `POST /v1/batch`: several statements in one transaction. */
import { Hono } from 'hono'
import { readBody } from '../body.js'
import type { GatewayEnv } from '../env.js'
import { runContext } from '../run-context.js'
import { batchRequestSchema } from '../schemas.js'
import { jsonAnswer } from '../send.js'
import { runBatch } from '../../engine/run.js'

/** The `/v1/batch` route. */
export function batchRoute(): Hono<GatewayEnv> {
  return new Hono<GatewayEnv>().post('/v1/batch', async function batch(c) {
    const request = await readBody(c, batchRequestSchema)
    return jsonAnswer(c, await runBatch(runContext(c), request))
  })
}
