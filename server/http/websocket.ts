/**
 * The WebSocket endpoint of the PostgreSQL protocol, `/v2`: what Neon's serverless driver
 * connects to when `neonConfig.wsProxy` points at the gateway (the protocol's bytes in
 * binary frames, the `?address=` it appends ignored: the token decides the tenant). The
 * upgraded socket becomes one more wire session (server/wire/).
 *
 * ws gathers a whole message before handing it over, so its `maxPayload` is what one
 * message can make the gateway hold. A client that has not authenticated gets a smaller one
 * (see {@link preAuthPayloadBytes}); the session raises it once the token is admitted.
 */
import type { IncomingMessage } from 'node:http'
import type { TLSSocket } from 'node:tls'
import type { Duplex } from 'node:stream'
import { WebSocketServer, createWebSocketStream, type WebSocket } from 'ws'
import { MAX_STARTUP_BYTES } from '../wire/handshake.js'
import type { WireServer } from '../wire/server.js'
import { isRefused } from './connection-guard.js'

/** The path Neon's driver uses by default (`wsProxy: host => host + '/v2'`). */
export const WIRE_WEBSOCKET_PATH = '/v2'

/** A Node `http.Server` 'upgrade' listener. */
export type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void

/**
 * The largest message a client may send before it has authenticated: its startup and
 * password messages, and the first query that Neon's driver pipelines behind them in the
 * same frame (`pipelineConnect: 'password'`, its default), as large as an HTTP request body.
 */
export function preAuthPayloadBytes(bodyLimitBytes: number): number {
  return bodyLimitBytes + 2 * MAX_STARTUP_BYTES
}

/**
 * The largest message of an authenticated session. A frame may hold several protocol
 * messages (Neon's driver coalesces what it writes in one tick), so one is allowed
 * `16 × bodyLimitBytes`.
 */
export function sessionPayloadBytes(bodyLimitBytes: number): number {
  return 16 * bodyLimitBytes
}

/**
 * Raises the largest message `ws` accepts from now on. ws has no public way to change it
 * on an open socket: this sets its receiver's `_maxPayload`, which the receiver reads at
 * each frame's header (ws 8.23, lib/receiver.js `haveLength`). Returns false, changing
 * nothing, when that field is not there; test/server/http/websocket.test.ts fails if a
 * later ws stops honouring it, and a session then keeps the smaller limit (its large
 * messages refused with 1009), which is safe.
 */
export function raiseMaxPayload(ws: WebSocket, bytes: number): boolean {
  const receiver = (ws as unknown as { _receiver?: { _maxPayload?: unknown } })._receiver
  if (typeof receiver?._maxPayload !== 'number') return false
  receiver._maxPayload = bytes
  return true
}

function refuse(socket: Duplex, status: string): void {
  // Destroyed once written, as ws aborts a handshake: an HTTP server's socket stays half open
  // until its client closes, and a client that never does would keep it.
  socket.once('finish', () => socket.destroy())
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
}

/**
 * Builds the upgrade listener. A message over the limit in force closes the WebSocket with
 * 1009 (Message Too Big) as soon as its header says so, before its payload is read.
 */
export function createUpgradeListener(wire: WireServer, bodyLimitBytes: number): UpgradeListener {
  const sockets = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: preAuthPayloadBytes(bodyLimitBytes),
  })
  const sessionLimit = sessionPayloadBytes(bodyLimitBytes)
  return function upgrade(req, socket, head) {
    socket.on('error', () => {})
    // Refused past server.maxClientConnections: it closes once its 429 is written.
    if (isRefused(socket)) return
    const path = (req.url ?? '/').split('?')[0]
    if (path !== WIRE_WEBSOCKET_PATH) return refuse(socket, '404 Not Found')
    if (wire.isDraining) return refuse(socket, '503 Service Unavailable')
    sockets.handleUpgrade(req, socket, head, (ws) => {
      const stream = createWebSocketStream(ws)
      stream.on('error', () => {})
      // TLS ended at this server, or at a proxy in front that says so.
      const secure =
        (req.socket as TLSSocket).encrypted === true || req.headers['x-forwarded-proto'] === 'https'
      wire.accept({
        stream,
        kind: 'websocket',
        remoteAddress: req.socket.remoteAddress ?? '',
        secure,
        authenticated: () => raiseMaxPayload(ws, sessionLimit),
      })
    })
  }
}
