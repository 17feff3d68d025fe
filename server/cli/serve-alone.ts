/**
 * `sluice serve` in one process (`server.workers` 1, the default): the gateway serves here,
 * SIGHUP reloads its config, and with `server.cluster` this process also checks its peers
 * (there is no primary to do it).
 */
import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { Membership } from '../cluster/membership.js'
import { ClusterNode } from '../cluster/node.js'
import { PeerClient } from '../cluster/peer-client.js'
import { ConfigError } from '../config/load.js'
import { secretsOf } from '../config/redact.js'
import type { GatewayCluster } from '../gateway.js'
import { errorMessage } from '../log/pool-log.js'
import { startGatewayServer, type GatewayServer } from './gateway-server.js'
import {
  baseUrlOf,
  drainingLine,
  logBugs,
  redacted,
  stopper,
  type ServeSetup,
  type Serving,
} from './serving.js'

/** Serves in this process; resolves once it listens. */
export async function serveAlone(setup: ServeSetup): Promise<Serving> {
  const { address, logger, loadConfig, io } = setup
  const { config, embedded } = setup.source
  const clusterConfig = config.server.cluster
  let cluster: GatewayCluster | undefined
  let membership: Membership | undefined
  if (clusterConfig) {
    const node = new ClusterNode({
      address,
      worker: { index: 0, incarnation: randomBytes(4).readUInt32BE(), count: 1 },
      nodeSecret: randomBytes(32),
      clusterSecret: clusterConfig.secret,
    })
    const peers = new PeerClient(address, node.auth, clusterConfig.connectTimeoutMs)
    membership = new Membership({
      selfKey: node.key,
      cluster: clusterConfig,
      defaultPort: config.server.port,
      client: peers,
      logger,
      onChange: (list) => node.update({ ...node.view, peers: list }),
    })
    // The first round before the pools open: this node's share depends on who answers.
    await membership.start()
    cluster = { node, peers }
  }
  let served: GatewayServer
  try {
    served = await startGatewayServer(config, {
      logger,
      processMetrics: true,
      ...(loadConfig ? { loadConfig } : {}),
      ...(cluster ? { cluster } : {}),
      reportBug: logBugs(logger),
    })
  } catch (error) {
    membership?.stop()
    await embedded?.stop()
    throw redacted(error, secretsOf(config))
  }
  const { gateway, server, pgServer } = served
  process.on('SIGHUP', function reloadOnHangup() {
    gateway.admin.reload().then(
      (report) => io.out(`sluice: config reloaded: ${JSON.stringify(report)}`),
      (error: unknown) => {
        const problems = error instanceof ConfigError ? error.problems : [errorMessage(error)]
        for (const problem of problems) io.err(`sluice: reload refused: ${problem}`)
      },
    )
  })
  const graceMs = () => gateway.config.server.drainGraceMs
  const stop = stopper(io, logger, graceMs, async (signal) => {
    const done = served.drainAndClose()
    io.out(drainingLine(signal, graceMs()))
    await done
    membership?.stop()
    await embedded?.stop()
  })
  const { host } = config.server
  return {
    stop,
    baseUrl: baseUrlOf(host, (server.address() as AddressInfo).port),
    pgAddress: pgServer ? `${host}:${(pgServer.address() as AddressInfo).port}` : undefined,
  }
}
