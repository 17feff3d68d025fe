/**
 * `sluice serve` in a worker process (`server.workers` above 1): the primary gives it its
 * index, the validated config and the node's secrets (server/cluster/worker-link.ts); it
 * serves its share of every pool on the node's shared ports plus its own Unix socket, and
 * does what the primary says: new cluster views, node-wide admin actions, reloads, the
 * drain. Signals are the primary's to handle (a terminal's Ctrl-C reaches the whole process
 * group): a worker ignores them, and drains on its own only if the primary goes away.
 */
import type { AddressInfo } from 'node:net'
import { ClusterNode } from '../cluster/node.js'
import { runLocal } from '../cluster/node-ops.js'
import { PeerClient } from '../cluster/peer-client.js'
import { WorkerLink } from '../cluster/worker-link.js'
import { redactText, secretsOf } from '../config/redact.js'
import { createLogger } from '../log/logger.js'
import { errorMessage } from '../log/pool-log.js'
import { isStartupError } from '../startup-error.js'
import { startGatewayServer, type GatewayServer } from './gateway-server.js'

/** Serves as worker of the primary that forked this process. */
export async function serveWorker(): Promise<void> {
  const link = await WorkerLink.open()
  const { start } = link
  const { config } = start
  const logger = createLogger(config.server.log).child({ worker: start.index })
  const clusterConfig = config.server.cluster
  const node = new ClusterNode({
    address: start.address,
    worker: { index: start.index, incarnation: start.incarnation, count: start.count },
    nodeSecret: Buffer.from(start.nodeSecret, 'hex'),
    clusterSecret: clusterConfig?.secret,
    view: start.view,
    claimNonce: (nonce, signedAt) => link.claimNonce(nonce, signedAt),
  })
  let served: GatewayServer
  try {
    served = await startGatewayServer(config, {
      logger,
      processMetrics: true,
      socketPath: start.socketPath,
      paused: start.paused,
      cluster: {
        node,
        channel: link.channel,
        ...(clusterConfig
          ? { peers: new PeerClient(start.address, node.auth, clusterConfig.connectTimeoutMs) }
          : {}),
        relayCancel: (worker, processId, secretKey) =>
          link.relayCancel(worker, processId, secretKey),
      },
      reportBug: (error, requestId) =>
        logger.error(
          {
            requestId,
            error: errorMessage(error),
            stack: error instanceof Error && error.stack ? redactText(error.stack) : undefined,
          },
          'internal error (a bug: please report it)',
        ),
    })
  } catch (error) {
    // The primary says it once, for every worker.
    const message = isStartupError(error) ? error.message : errorMessage(error)
    link.failed(redactText(message, secretsOf(config)))
    process.exit(1)
  }
  let stopping = false
  const stop = async () => {
    if (stopping) return
    stopping = true
    // Should a connection never come back (a bug), do not hang for ever.
    setTimeout(() => process.exit(1), served.gateway.config.server.drainGraceMs + 15_000).unref()
    await served.drainAndClose()
    await new Promise<void>((resolve) => logger.flush(() => resolve()))
    process.exit(0)
  }
  link.serve(
    {
      view: (view) => node.update(view),
      drain: () => void stop(),
      run: (op) => runLocal(served.gateway.admin, op),
      apply: (next) => served.gateway.admin.apply(next),
      cancel: (processId, secretKey) => served.gateway.wire.cancel(processId, secretKey),
      orphaned: () => void stop(),
    },
    served.gateway.metrics.registry,
  )
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => {})
  const port = (served.server.address() as AddressInfo).port
  const pgPort = served.pgServer ? (served.pgServer.address() as AddressInfo).port : undefined
  link.listening(port, pgPort)
}
