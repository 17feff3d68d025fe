/**
 * The gateway's Node request listener: `POST /v1/query` goes the direct way
 * (./direct-query.ts), a request for a transaction held by another worker or node is
 * passed on to it (./forward.ts), everything else goes through the Hono app and
 * @hono/node-server. A peer node's request is checked first, body included
 * (./hop-credentials.ts): one refused goes to the app, which renders the refusal. Every
 * response is watched by the send watchdog (`server.sendTimeoutMs`, ./send-watchdog.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer, type Server } from 'node:http'
import { getRequestListener } from '@hono/node-server'
import type { Hono } from 'hono'
import { HOP_HEADER } from '../cluster/hop-auth.js'
import type { HttpDeps } from './deps.js'
import { directQuery, isDirectQuery } from './direct-query.js'
import type { GatewayEnv } from './env.js'
import { createForwarder } from './forward.js'
import { checkNodeHop, isPeerHop } from './hop-credentials.js'
import { sendWatchdog } from './send-watchdog.js'

/** A Node `http.Server` request listener. */
export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void

/** Builds the listener over `app` and the direct path. */
export function createRequestListener(app: Hono<GatewayEnv>, deps: HttpDeps): RequestListener {
  const viaHono = getRequestListener(app.fetch)
  const query = directQuery(deps)
  const forward = createForwarder(deps)
  const watchdog = sendWatchdog(deps.sendTimeoutMs, (event) =>
    deps.logger.warn(event, 'send timeout: the client stopped reading, its connection closed'),
  )
  const dispatch: RequestListener = (req, res) => {
    if (isDirectQuery(req)) query(req, res)
    else if (!forward(req, res)) void viaHono(req, res)
  }
  return function sluice(req, res) {
    watchdog.watch(res)
    const hop = req.headers[HOP_HEADER]
    if (typeof hop === 'string' && isPeerHop(hop)) {
      void checkNodeHop(deps.cluster, req, deps.bodyLimitBytes).then((outcome) => {
        if ('error' in outcome) void viaHono(req, res)
        else dispatch(req, res)
      })
      return
    }
    dispatch(req, res)
  }
}

/** An HTTP server over `listener`, not yet listening (the CLI calls `listen`). */
export function createHttpServer(listener: RequestListener): Server {
  return createServer(listener)
}
