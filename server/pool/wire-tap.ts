/**
 * Who reads the bytes PostgreSQL sends on a pooled connection: pg's parser, through the wire
 * meter that counts a statement's results before pg reads them (./wire-meter.ts), or, while
 * the socket is lent raw to the PostgreSQL protocol relay (server/wire/), the relay.
 */
import type { EventEmitter } from 'node:events'
import type { Duplex } from 'node:stream'
import type pg from 'pg'
import type { PgConnection, WireStream } from './pg-internals.js'
import type { WireMeter } from './wire-meter.js'

/** A socket lent out by Connection.detach: raw bytes both ways. */
export interface RawSocket {
  readonly stream: Duplex
}

/** Who reads a detached socket (server/wire/relay.ts): its bytes, its close and its drain. */
export interface RawReader {
  rawData(chunk: Buffer): void
  rawClose(): void
  rawDrain(): void
}

/**
 * Puts `meter` between `client`'s protocol stream and pg's parser: the meter reads every
 * byte first and passes on to pg what pg should parse. While the socket is detached,
 * `detachedTo()` names who reads it instead: listeners are set once, never swapped per loan.
 */
export function meterClient(
  client: pg.Client,
  meter: WireMeter,
  parserInput: EventEmitter,
  detachedTo: () => RawReader | undefined,
): void {
  const connection = (client as unknown as { connection: PgConnection }).connection
  const attach = connection.attachListeners.bind(connection)
  connection.attachListeners = (stream) => {
    const wire = stream as WireStream
    wire.on('data', (chunk) => {
      const raw = detachedTo()
      if (raw) raw.rawData(chunk)
      else meter.read(chunk)
    })
    wire.on('end', () => parserInput.emit('end'))
    wire.on('close', () => detachedTo()?.rawClose())
    wire.on('drain', () => detachedTo()?.rawDrain())
    attach(parserInput)
  }
}
