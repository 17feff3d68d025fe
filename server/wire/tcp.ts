/**
 * The plain TCP PostgreSQL listener (`server.pgPort`), for psql, pg, postgres.js, pgbench
 * and every other driver. With `server.pgTls` it answers SSLRequest with 'S' and speaks
 * TLS; without, 'N' (the client then decides whether to go on in the clear).
 */
import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { TLSSocket, createSecureContext, type SecureContext } from 'node:tls'
import type { Config } from '../config/schema.js'
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

/** A TCP server speaking the PostgreSQL protocol into `wire`; not yet listening. */
export function createPgListener(wire: WireServer, tls?: SecureContext): Server {
  return createServer(function pgConnection(socket) {
    socket.setNoDelay(true)
    socket.setKeepAlive(true, 60_000)
    // Socket errors end the session through 'close'; this keeps them from being thrown.
    socket.on('error', () => {})
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
