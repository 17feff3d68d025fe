/**
 * Interactive transactions: `POST /v1/transactions` opens one; `/{id}/query` (JSON, or
 * NDJSON when asked), `/{id}/commit` and `/{id}/rollback` continue and end it. See
 * server/engine/transactions.ts.
 */
import { Hono } from 'hono'
import type { TransactionRegistry } from '../../engine/transactions.js'
import type { ReportBug } from '../../errors.js'
import { readBody } from '../body.js'
import type { GatewayEnv } from '../env.js'
import { quickStreamRequest } from '../query-request.js'
import { runContext } from '../run-context.js'
import { beginRequestSchema, queryRequestSchema, streamRequestSchema } from '../schemas.js'
import { jsonAnswer } from '../send.js'
import { acceptedStream, streamResponse } from '../stream-query.js'

/** The transaction routes. */
export function transactionRoutes(
  transactions: TransactionRegistry,
  reportBug: ReportBug,
): Hono<GatewayEnv> {
  return new Hono<GatewayEnv>()
    .post('/v1/transactions', async function begin(c) {
      // An empty body means "all defaults".
      const request = await readBody(c, beginRequestSchema, {})
      return c.json(await transactions.begin(runContext(c), request), 201)
    })
    .post('/v1/transactions/:id/query', async function transactionQuery(c) {
      const id = c.req.param('id')
      const mediaType = acceptedStream(c.req.header('Accept'))
      if (mediaType !== undefined) {
        const request = await readBody(c, streamRequestSchema, undefined, quickStreamRequest)
        return streamResponse(c, mediaType, request, reportBug, (context, sink) =>
          transactions.stream(context, id, request, sink),
        )
      }
      const request = await readBody(c, queryRequestSchema)
      return jsonAnswer(c, await transactions.query(runContext(c), id, request))
    })
    .post('/v1/transactions/:id/commit', async function commit(c) {
      return c.json(await transactions.commit(runContext(c), c.req.param('id')))
    })
    .post('/v1/transactions/:id/rollback', async function rollback(c) {
      return c.json(await transactions.rollback(runContext(c), c.req.param('id')))
    })
}
