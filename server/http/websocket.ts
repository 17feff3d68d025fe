/**
 * The WebSocket endpoint of the PostgreSQL protocol, `/v2`: what Neon's serverless driver
 * connects to when `neonConfig.wsProxy` points at the gateway (the protocol's bytes in
 * binary frames, the `?address=` it appends ignored: the token decides the tenant). The
 * upgraded socket becomes one more wire session (server/wire/).
 */
import type { IncomingMessage } from 'node:http'
import type { TLSSocket } from 'node:tls'
import type { Duplex } from 'node:stream'
import { WebSocketServer, createWebSocketStream } from 'ws'
import type { WireServer } from '../wire/server.js'

/** The path Neon's driver uses by default (`wsProxy: host => host + '/v2'`). */
export const WIRE_WEBSOCKET_PATH = '/v2'

/** A Node `http.Server` 'upgrade' listener. */
export type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void

function refuse(socket: Duplex, status: string): void {
  // Destroyed once written, as ws aborts a handshake: an HTTP server's socket stays half open
  // until its client closes, and a client that never does would keep it.
  socket.once('finish', () => socket.destroy())
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
}

/**
 * Builds the upgrade listener. A frame may hold several protocol messages (Neon's driver
 * coalesces what it writes in one tick), so one is allowed `16 × bodyLimitBytes`.
 */
export function createUpgradeListener(wire: WireServer, bodyLimitBytes: number): UpgradeListener {
  const sockets = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: 16 * bodyLimitBytes,
  })
  return function upgrade(req, socket, head) {
    socket.on('error', () => {})
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
      })
    })
  }
}
