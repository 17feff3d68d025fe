/**
 * Opening one pooled connection: a pg Client set up before it connects (the wire meter must
 * see the stream from its first message, and the startup's ParameterStatus values are kept),
 * then connected.
 */
import pg from 'pg'
import type { CancelTarget } from './cancel-request.js'
import { Connection } from './connection.js'
import type { PgInternals } from './pg-internals.js'
import type { PreparedOptions } from './prepared.js'

/** Opens a connection and waits for PostgreSQL to accept it. */
export async function openConnection(
  config: pg.ClientConfig,
  lifetimeMs: number,
  cancelTarget: CancelTarget,
  prepared?: PreparedOptions,
): Promise<Connection> {
  const client = new pg.Client(config)
  // An error before connect() settles is reported by connect(); this keeps it from crashing us.
  client.on('error', () => {})
  // The wire relay reports these to its clients (server/wire/); pg itself keeps none.
  const parameters = new Map<string, string>()
  ;(client as unknown as PgInternals).connection.on(
    'parameterStatus',
    (msg: { parameterName: string; parameterValue: string }) =>
      parameters.set(msg.parameterName, msg.parameterValue),
  )
  // Made before connect(): its wire meter must see the stream from the first message.
  const connection = new Connection(client, lifetimeMs, cancelTarget, prepared, parameters)
  await client.connect()
  return connection
}
