/**
 * What the gateway's HTTP listener does with each new connection, before Node's parser
 * reads it: past `server.maxClientConnections` (../lifecycle/client-connections.ts) it is
 * answered 429 RATE_LIMITED and closed as soon as that is written; otherwise a connection
 * that has sent nothing after `server.headersTimeoutMs` is closed. Node's own
 * `headersTimeout` starts only with the first byte, so without this a silent connection
 * would be held for ever. Both cost once per connection, nothing per request but the one
 * property read of {@link isRefused}.
 */
import type { Server } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { SluiceError } from '../../src/errors.js'
import type { ClientConnections } from '../lifecycle/client-connections.js'
import { errorHeaders } from './errors.js'

/** Options of {@link guardConnections}. */
export interface ConnectionGuardOptions {
  connections: ClientConnections
  /** How long a new connection may stay silent (`server.headersTimeoutMs`). */
  headersTimeoutMs: number
}

// Set on a refused socket. The http.Server attaches its parser in its own 'connection'
// listener whatever this one does, so a request already sent on a refused socket could
// still be parsed: the request and upgrade listeners check this mark and leave it alone.
const REFUSED = Symbol('sluice.refusedConnection')

type Marked = Duplex & { [REFUSED]?: true }

/** True for a socket refused past `server.maxClientConnections`: serve nothing on it. */
export function isRefused(socket: Duplex): boolean {
  return (socket as Marked)[REFUSED] === true
}

function tooManyConnectionsAnswer(): Buffer {
  const error = new SluiceError(
    'RATE_LIMITED',
    'this gateway process holds as many client connections as it may (server.maxClientConnections): try again',
    { retryable: true },
  )
  const body = JSON.stringify(error.toBody())
  const headers = {
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(body)),
    ...errorHeaders(error),
    Connection: 'close',
  }
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`)
  return Buffer.from(`HTTP/1.1 429 Too Many Requests\r\n${lines.join('')}\r\n${body}`)
}

const TOO_MANY_CONNECTIONS = tooManyConnectionsAnswer()

function refuse(socket: Duplex): void {
  ;(socket as Marked)[REFUSED] = true
  socket.on('error', () => {})
  // Destroyed once written, as ws aborts a handshake: held open until its client closes,
  // a refused connection would still spend the descriptor the cap is there to keep.
  socket.once('finish', () => socket.destroy())
  socket.end(TOO_MANY_CONNECTIONS)
}

function closeIfSilent(socket: Duplex, connections: ClientConnections): void {
  // Any byte at all and the connection is Node's to time: its headersTimeout and
  // requestTimeout while a request arrives, keepAliveTimeout between requests, and no limit
  // while it waits for an answer (a long statement).
  if ((socket as Socket).bytesRead !== 0 || socket.destroyed) return
  connections.closedSilent()
  socket.destroy()
}

/** Installs the guard on `server`, ahead of its own 'connection' listener. */
export function guardConnections(server: Server, options: ConnectionGuardOptions): void {
  const { connections, headersTimeoutMs } = options
  server.prependListener('connection', function guardConnection(socket: Duplex) {
    if (!connections.admit(socket, 'http')) return refuse(socket)
    const timer = setTimeout(closeIfSilent, headersTimeoutMs, socket, connections).unref()
    socket.once('close', () => clearTimeout(timer))
  })
}
