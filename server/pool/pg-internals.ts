/**
 * The parts of pg's Client that @types/pg does not declare and the pool reaches into: the
 * backend's key (for cancel requests and its pid), its protocol connection and the socket
 * that connection reads (a TLS socket once upgraded).
 */
import type { EventEmitter } from 'node:events'
import type { Duplex } from 'node:stream'
import type pg from 'pg'

/** Set by pg from BackendKeyData. */
export interface BackendKey {
  processID: number | null
  secretKey: number | null
}

/** pg's protocol connection and its socket, and the transaction status it last saw. */
export interface PgInternals {
  connection: { stream: Duplex; on(event: string, listener: (msg: never) => void): void }
  _txStatus: string | null
}

/** The socket pg reads: a net.Socket, or the TLS socket over it. */
export interface WireStream {
  on(event: 'data', listener: (chunk: Buffer) => void): unknown
  on(event: 'end' | 'close' | 'drain', listener: () => void): unknown
  pause(): unknown
  resume(): unknown
  destroy(): unknown
}

/**
 * pg's Connection, the part we hook: pg calls attachListeners(stream) with the stream its
 * parser would read, once that stream carries protocol messages (after TLS is set up), and
 * its parser listens to nothing but 'data' and 'end'.
 */
export interface PgConnection {
  stream: WireStream
  attachListeners(stream: WireStream | EventEmitter): void
}

/** The socket pg reads for `client`, once it has one. */
export function wireOf(client: pg.Client): WireStream | undefined {
  return (client as unknown as { connection?: PgConnection }).connection?.stream
}
