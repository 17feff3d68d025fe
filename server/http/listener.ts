/**
 * The gateway's Node request listener: `POST /v1/query` goes the direct way
 * (./direct-query.ts), a request for a transaction held by another worker or node is
 * passed on to it (./forward.ts), everything else goes through the Hono app and
 * @hono/node-server. A peer node's request is checked first, body included
 * (./hop-credentials.ts): one refused goes to the app, which renders the refusal. Every
 * response is watched by the send watchdog (`server.sendTimeoutMs`, ./send-watchdog.ts).
 * The CLI's server also caps and times its connections (./connection-guard.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer, type Server } from 'node:http'
import { getRequestListener } from '@hono/node-server'
import type { Hono } from 'hono'
import { HOP_HEADER } from '../cluster/hop-auth.js'
import { guardConnections, isRefused, type ConnectionGuardOptions } from './connection-guard.js'
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
    // A request that arrived on a connection refused past server.maxClientConnections: its
    // socket closes once the 429 is written, and nothing of it may run meanwhile.
    if (isRefused(req.socket)) return
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

/** Options of {@link createHttpServer}: a server for clients, capped and timed. */
export interface HttpServerOptions extends ConnectionGuardOptions {
  bodyLimitBytes: number
}

// How slowly a request body may arrive before requestTimeout ends it: 32 KiB/s (256 kbit/s).
const SLOWEST_BODY_BYTES_PER_SECOND = 32 * 1024

/**
 * Node's `requestTimeout` for a gateway whose bodies are at most `bodyLimitBytes`: the
 * headers' time plus one second per 32 KiB of body (42 s with the defaults).
 */
export function requestTimeoutMs(headersTimeoutMs: number, bodyLimitBytes: number): number {
  return headersTimeoutMs + Math.ceil(bodyLimitBytes / SLOWEST_BODY_BYTES_PER_SECOND) * 1000
}

/**
 * An HTTP server over `listener`, not yet listening (the CLI calls `listen`). With
 * `options`, a server for clients: connections capped and silent ones closed
 * (./connection-guard.ts), Node's headersTimeout set to `headersTimeoutMs` and its
 * requestTimeout to {@link requestTimeoutMs}. Without, Node's defaults (the workers'
 * internal socket, whose only clients are the node's other workers).
 */
export function createHttpServer(listener: RequestListener, options?: HttpServerOptions): Server {
  if (!options) return createServer(listener)
  const { headersTimeoutMs, bodyLimitBytes } = options
  const server = createServer(
    {
      headersTimeout: headersTimeoutMs,
      requestTimeout: requestTimeoutMs(headersTimeoutMs, bodyLimitBytes),
      // How often Node checks those two (its default, 30 s, would let them run long).
      connectionsCheckingInterval: Math.min(1_000, headersTimeoutMs),
    },
    listener,
  )
  guardConnections(server, options)
  return server
}
