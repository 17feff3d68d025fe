/**
 * The plain TCP PostgreSQL listener (`server.pgPort`), for psql, pg, postgres.js, pgbench
 * and every other driver. With `server.pgTls` it answers SSLRequest with 'S' and speaks
 * TLS; without, 'N' (the client then decides whether to go on in the clear).
 */
import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { TLSSocket, createSecureContext, type SecureContext } from 'node:tls'
import type { Config } from '../config/schema.js'
import type { ClientConnections } from '../lifecycle/client-connections.js'
import { errorResponse } from './messages.js'
import type { WireServer } from './server.js'

/** The TLS context of `server.pgTls`, read from its files; undefined when not configured. */
export function pgTlsContext(config: Config): SecureContext | undefined {
  const tls = config.server.pgTls
  if (!tls) return undefined
  return createSecureContext({
    cert: readFileSync(tls.certFile, 'utf8'),
    key: readFileSync(tls.keyFile, 'utf8'),
  })
}

// PostgreSQL's (and PgBouncer's) answer when its connection slots are all taken.
const TOO_MANY_CONNECTIONS = errorResponse({
  severity: 'FATAL',
  code: '53300',
  message:
    'this gateway process holds as many client connections as it may (server.maxClientConnections): try again',
})

/**
 * A TCP server speaking the PostgreSQL protocol into `wire`; not yet listening. With
 * `connections`, a connection past `server.maxClientConnections` is told 53300 and closed
 * as soon as that is written, unread.
 */
export function createPgListener(
  wire: WireServer,
  tls?: SecureContext,
  connections?: ClientConnections,
): Server {
  return createServer(function pgConnection(socket) {
    // Socket errors end the session through 'close'; this keeps them from being thrown.
    socket.on('error', () => {})
    if (connections && !connections.admit(socket, 'pg')) {
      // Destroyed once written: held open, it would spend the descriptor the cap keeps.
      socket.once('finish', () => socket.destroy())
      socket.end(TOO_MANY_CONNECTIONS)
      return
    }
    socket.setNoDelay(true)
    socket.setKeepAlive(true, 60_000)
    wire.accept({
      stream: socket,
      kind: 'tcp',
      remoteAddress: socket.remoteAddress ?? '',
      secure: false,
      ...(tls
        ? {
            startTls: () => {
              const secure = new TLSSocket(socket, { isServer: true, secureContext: tls })
              secure.on('error', () => {})
              return secure
            },
          }
        : {}),
    })
  })
}
