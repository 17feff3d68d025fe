/**
 * Interactive transactions: `POST /v1/transactions` opens one; `/{id}/query`, `/{id}/commit`
 * and `/{id}/rollback` continue and end it. See server/transactions/registry.ts.
 */
import { Hono } from 'hono'
import { readBody } from '../body.js'
import type { GatewayEnv } from '../env.js'
import { runContext } from '../run-context.js'
import { beginRequestSchema, queryRequestSchema } from '../schemas.js'
import type { TransactionRegistry } from '../../engine/transactions.js'

/** The transaction routes. */
export function transactionRoutes(transactions: TransactionRegistry): Hono<GatewayEnv> {
  return new Hono<GatewayEnv>()
    .post('/v1/transactions', async function begin(c) {
      // An empty body means "all defaults".
      const request = await readBody(c, beginRequestSchema, {})
      return c.json(await transactions.begin(runContext(c), request), 201)
    })
    .post('/v1/transactions/:id/query', async function transactionQuery(c) {
      const request = await readBody(c, queryRequestSchema)
      return c.json(await transactions.query(runContext(c), c.req.param('id'), request))
    })
    .post('/v1/transactions/:id/commit', async function commit(c) {
      return c.json(await transactions.commit(runContext(c), c.req.param('id')))
    })
    .post('/v1/transactions/:id/rollback', async function rollback(c) {
      return c.json(await transactions.rollback(runContext(c), c.req.param('id')))
    })
}
