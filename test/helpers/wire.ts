/**
 * A test gateway listening for the PostgreSQL protocol: its TCP listener and its HTTP
 * server (whose `/v2` WebSocket endpoint Neon's driver uses), both on 127.0.0.1.
 */
import type { Server } from 'node:http'
import type { AddressInfo, Server as NetServer } from 'node:net'
import pg from 'pg'
import { serveGateway, startTestGateway, type TestGateway } from './gateway.js'

/** A listening test gateway. */
export interface WireGateway extends TestGateway {
  /** The TCP listener's port. */
  pgPort: number
  /** `127.0.0.1:<http port>`: Neon's wsProxy is `${httpHost}/v2`. */
  httpHost: string
  /** pg's config for the TCP listener, with `token` (the readwrite one by default). */
  pgConfig(token?: string): pg.ClientConfig
}

function listening(server: Server | NetServer): Promise<number> {
  return new Promise((resolve) => {
    const done = () => resolve((server.address() as AddressInfo).port)
    if (server.listening) done()
    else server.once('listening', done)
  })
}

/** Starts a test gateway (see startTestGateway) and its two listeners. */
export async function startWireGateway(
  ...args: Parameters<typeof startTestGateway>
): Promise<WireGateway> {
  const t = await startTestGateway(...args)
  const http = serveGateway(t.gateway)
  const tcp = t.gateway.createPgListener().listen(0, '127.0.0.1')
  const [httpPort, pgPort] = await Promise.all([listening(http), listening(tcp)])
  return {
    ...t,
    pgPort,
    httpHost: `127.0.0.1:${httpPort}`,
    pgConfig: (token = t.token) => ({
      host: '127.0.0.1',
      port: pgPort,
      user: 'main',
      password: token,
      database: 'any',
    }),
    async close() {
      tcp.close()
      http.closeAllConnections()
      http.close()
      await t.close()
    },
  }
}

/** Connects a pg Client to the gateway's TCP listener. */
export async function pgClient(t: WireGateway, token?: string): Promise<pg.Client> {
  const client = new pg.Client(t.pgConfig(token))
  client.on('error', () => {})
  await client.connect()
  return client
}
