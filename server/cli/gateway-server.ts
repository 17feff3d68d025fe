/**
 * One gateway process serving: the gateway built from a config, its HTTP listener (and the
 * PostgreSQL protocol's, with `server.pgPort`), and for a worker its Unix socket, where the
 * node's other workers forward the requests of its transactions. `drainAndClose()` is the
 * drain every stop goes through: the listeners keep accepting for `drainGraceMs`
 * (answering SHUTTING_DOWN, open transactions may finish), then stop, what still runs is
 * cancelled, and every connection closes. Used by `sluice serve` without workers and by
 * each worker.
 */
import { rm } from 'node:fs/promises'
import type { Server } from 'node:net'
import type { Config } from '../config/schema.js'
import { createGateway, type Gateway, type GatewayOptions } from '../gateway.js'
import { createHttpServer } from '../http/listener.js'
import type { Logger } from '../log/logger.js'
import { errorMessage } from '../log/pool-log.js'
import { listen } from './listen.js'

/** A serving gateway process. */
export interface GatewayServer {
  gateway: Gateway
  /** The HTTP listener. */
  server: ReturnType<typeof createHttpServer>
  /** The PostgreSQL protocol's listener, with `server.pgPort`. */
  pgServer: Server | undefined
  /** Drains for `drainGraceMs`, then closes everything; resolves when it is all closed. */
  drainAndClose(): Promise<void>
  /** Closes at once, after a failed start. */
  abort(): Promise<void>
}

/** Options of {@link startGatewayServer}. */
export interface GatewayServerOptions extends GatewayOptions {
  logger: Logger
  /** A worker's Unix socket, for requests forwarded by the node's other workers. */
  socketPath?: string
}

/** Builds the gateway, opens its pools and listens; on failure stops what it started. */
export async function startGatewayServer(
  config: Config,
  options: GatewayServerOptions,
): Promise<GatewayServer> {
  const { logger, socketPath } = options
  const gateway = createGateway(config, options)
  const { host, port, pgPort } = config.server
  const server = gateway.createHttpServer()
  const pgServer = pgPort === undefined ? undefined : gateway.createPgListener()
  const internal = socketPath === undefined ? undefined : createHttpServer(gateway.listener)
  const abort = async () => {
    server.close()
    pgServer?.close()
    internal?.close()
    await gateway.close(0)
  }
  try {
    await gateway.start()
    if (internal && socketPath) {
      await rm(socketPath, { force: true })
      await new Promise<void>((resolve, reject) => {
        internal.once('error', reject)
        internal.listen(socketPath, () => resolve())
      })
    }
    await listen(server, host, port)
    if (pgServer) await listen(pgServer, host, pgPort!)
  } catch (error) {
    await abort()
    throw error
  }
  const onError = (error: Error) => logger.error({ error: errorMessage(error) }, 'server error')
  server.on('error', onError)
  pgServer?.on('error', onError)
  internal?.on('error', onError)
  return {
    gateway,
    server,
    pgServer,
    abort,
    async drainAndClose() {
      const graceMs = gateway.config.server.drainGraceMs
      // The listeners keep accepting for the whole grace, so a load balancer has time to
      // stop routing here; every answer meanwhile closes its keep-alive socket.
      gateway.drain()
      await new Promise((resolve) => setTimeout(resolve, graceMs))
      server.close()
      pgServer?.close()
      internal?.close()
      server.closeIdleConnections()
      internal?.closeIdleConnections()
      // What still runs is cancelled (SHUTTING_DOWN) and open transactions roll back.
      await gateway.close(0)
      server.closeAllConnections()
      internal?.closeAllConnections()
      if (socketPath) await rm(socketPath, { force: true })
    },
  }
}
