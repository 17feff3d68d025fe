/**
 * The gateway's Node request listener: `POST /v1/query` goes the direct way
 * (./direct-query.ts), everything else through the Hono app and @hono/node-server.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { getRequestListener } from '@hono/node-server'
import type { Hono } from 'hono'
import { directQuery, isDirectQuery, type DirectQueryDeps } from './direct-query.js'
import type { GatewayEnv } from './env.js'

/** A Node `http.Server` request listener. */
export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void

/** Builds the listener over `app` and the direct path. */
export function createRequestListener(
  app: Hono<GatewayEnv>,
  direct: DirectQueryDeps,
): RequestListener {
  const viaHono = getRequestListener(app.fetch)
  const query = directQuery(direct)
  return function sluice(req, res) {
    if (isDirectQuery(req)) query(req, res)
    else void viaHono(req, res)
  }
}
