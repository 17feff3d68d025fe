/**
 * The gateway: one validated config in, every part wired together. Tenants with their pools
 * and the token index (tenants/), the engine's transactions (engine/), logs and metrics
 * (log/, metrics/), the operator's controls (admin/) and the HTTP entry points (http/).
 * `createGateway` opens nothing; `start()` opens the pools' minimum connections and
 * `close()` drains and closes everything. docs/architecture.md draws the map.
 */
import type { Hono } from 'hono'
import { randomBytes } from 'node:crypto'
import type { Server as HttpServer } from 'node:http'
import type { Server as NetServer } from 'node:net'
import { createAdmin, type Admin } from './admin/admin.js'
import { ChannelSigner, channelKey } from './cache/signature.js'
import type { CacheStats } from './cache/tenant-cache.js'
import { secretsOf } from './config/redact.js'
import { ClusterAdmin } from './cluster/cluster-admin.js'
import { ClusterNode } from './cluster/node.js'
import { localChannel, type NodeChannel } from './cluster/node-ops.js'
import type { PeerClient } from './cluster/peer-client.js'
import { formatHostPort } from './config/host-port.js'
import type { Config } from './config/schema.js'
import { TransactionRegistry } from './engine/transactions.js'
import { reportToStderr, type ReportBug } from './errors.js'
import { createApp } from './http/app.js'
import type { HttpDeps } from './http/deps.js'
import type { GatewayEnv } from './http/env.js'
import { createHttpServer, createRequestListener, type RequestListener } from './http/listener.js'
import { createUpgradeListener, type UpgradeListener } from './http/websocket.js'
import { ClientConnections } from './lifecycle/client-connections.js'
import { Lifecycle } from './lifecycle/lifecycle.js'
import { silentLogger, type Logger } from './log/logger.js'
import { logPoolEvent } from './log/pool-log.js'
import { createRequestRecorder } from './log/request-recorder.js'
import { createMetrics, type Metrics } from './metrics/metrics.js'
import type { PoolEvent } from './pool/pool-event.js'
import { readiness, type Readiness } from './tenants/readiness.js'
import { closeTenant, createTenant, startTenant, type Tenant } from './tenants/tenant.js'
import { TenantSet } from './tenants/tenant-set.js'
import { WireServer, type WireOptions } from './wire/server.js'
import { createPgListener, pgTlsContext } from './wire/tcp.js'

// After the drain, cancelled statements answer within a round trip; this bounds the wait.
const CANCELLED_WORK_MS = 5_000

/** Options of {@link createGateway}. */
export interface GatewayOptions {
  /** Where logs go. @default a silent logger (in-process gateways, tests) */
  logger?: Logger
  /** Adds Node's process metrics to /metrics. @default false (the CLI turns them on) */
  processMetrics?: boolean
  /** Reads and validates the config file again, for `POST /admin/reload` and SIGHUP. */
  loadConfig?: () => Promise<Config>
  /** Also told of every pool event. */
  onPoolEvent?: (tenant: string, event: PoolEvent) => void
  /** Told of unexpected errors (bugs). @default stderr */
  reportBug?: ReportBug
  /** Extra routes mounted before the v1 API. */
  extraRoutes?: (app: Hono<GatewayEnv>) => void
  /** Options of the PostgreSQL protocol side (server/wire/). */
  wire?: WireOptions
  /**
   * This process's place among a node's workers and a cluster's nodes (server/cluster/).
   * @default a lone gateway: one process, no peers
   */
  cluster?: GatewayCluster
  /**
   * Tenants paused from the start, by name (a name not in the config is ignored): a worker
   * its primary restarts while an operator holds them paused starts with them paused, so it
   * serves none of their requests and opens none of their connections.
   */
  paused?: readonly string[]
}

/** What a gateway of several processes is given by the process that runs it. */
export interface GatewayCluster {
  node: ClusterNode
  /** Runs admin operations in every worker of the node. @default this process only */
  channel?: NodeChannel
  /** Requests to peer nodes, when there are some. */
  peers?: PeerClient
  /** Passes a CancelRequest of the PostgreSQL protocol to the worker whose session it names. */
  relayCancel?: (worker: number, processId: number, secretKey: number) => void
}

/** A running gateway's handle. */
export interface Gateway {
  readonly config: Config
  readonly app: Hono<GatewayEnv>
  /**
   * The Node request listener to serve: `app`, plus the direct `/v1/query` path that skips
   * Hono for speed (server/http/direct-query.ts). Use it with `http.createServer`.
   */
  readonly listener: RequestListener
  /**
   * The HTTP server's 'upgrade' listener: the PostgreSQL protocol over WebSocket at `/v2`
   * (Neon's `wsProxy`, server/http/websocket.ts).
   */
  readonly upgrade: UpgradeListener
  /** The PostgreSQL protocol's sessions, whichever listener they came through. */
  readonly wire: WireServer
  /**
   * A TCP server speaking the PostgreSQL protocol (with `server.pgTls`, TLS after
   * SSLRequest), not yet listening: the CLI listens on `server.pgPort`.
   */
  createPgListener(): NetServer
  /**
   * The HTTP server the CLI serves, not yet listening: `listener` and `upgrade`, with this
   * process's cap on client connections (`server.maxClientConnections`, counted with the
   * PostgreSQL listener's) and `server.headersTimeoutMs` (server/http/connection-guard.ts).
   * `http.createServer(gateway.listener)` serves the same without them.
   */
  createHttpServer(): HttpServer
  /** This process's client connections, both listeners together. */
  readonly connections: ClientConnections
  readonly tenants: ReadonlyMap<string, Tenant>
  readonly lifecycle: Lifecycle
  readonly transactions: TransactionRegistry
  readonly logger: Logger
  readonly metrics: Metrics
  /** The operator's controls: tenants, pause and resume, config, reload. */
  readonly admin: Admin
  /** The same over every worker of the node and every node of the cluster. */
  readonly clusterAdmin: ClusterAdmin
  /** This process's place among its node's workers and the cluster's nodes. */
  readonly cluster: ClusterNode
  /** Opens each pool's `min` connections (failures are retried in the background). */
  start(): Promise<void>
  /** Each tenant's database answers? */
  readiness(): Promise<Readiness>
  /**
   * Starts the drain: `/readyz` answers 503, new work gets SHUTTING_DOWN (open transactions
   * may still query, commit and roll back), and every answer closes its keep-alive socket,
   * so clients reconnect elsewhere. The listeners keep accepting; `close` ends it.
   */
  drain(): void
  /**
   * Stops: drains (if not yet), gives in-flight requests and open transactions up to
   * `graceMs` to finish, then cancels the statements still running (they answer
   * SHUTTING_DOWN), rolls back what is open and closes every connection.
   * @default graceMs server.drainGraceMs
   */
  close(graceMs?: number): Promise<void>
}

/** Builds a gateway from a validated config. */
export function createGateway(config: Config, options: GatewayOptions = {}): Gateway {
  const logger = options.logger ?? silentLogger()
  const lifecycle = new Lifecycle()
  const node =
    options.cluster?.node ??
    new ClusterNode({
      address: formatHostPort({ host: config.server.host, port: config.server.port }),
      worker: { index: 0, incarnation: randomBytes(4).readUInt32BE(), count: 1 },
      nodeSecret: randomBytes(32),
    })
  // Every process whose cache shares a database must share this (docs/cache.md "The key").
  const cacheSigner = new ChannelSigner(
    config.server.cacheSecret === undefined ? node.cacheKey : channelKey(config.server.cacheSecret),
  )
  const transactions = new TransactionRegistry({ newId: (tokenHash) => node.ids.mint(tokenHash) })
  const reportBug = options.reportBug ?? reportToStderr
  const metrics = createMetrics({
    processMetrics: options.processMetrics ?? false,
    openTransactions: (tenant) => transactions.count(tenant),
    // Read at scrape time, once `set` exists.
    tenantNames: () => set.tenants.keys(),
    caches: () =>
      [...set.tenants.values()].flatMap((t) =>
        t.cache ? [[t.name, t.cache.stats()] as [string, CacheStats]] : [],
      ),
  })
  const onPoolEvent = (tenant: string, event: PoolEvent): void => {
    metrics.poolEvent(tenant, event)
    // Read at the event, once `set` exists: a reload may change the secrets.
    logPoolEvent(logger, tenant, event, () => secretsOf(set.config))
    options.onPoolEvent?.(tenant, event)
  }
  // The tenant set and token index change on a config reload.
  const set = new TenantSet(config, {
    // Each process opens its share of the configured pool (all of it, alone).
    makeTenant: (name, tenantConfig) =>
      createTenant(name, tenantConfig, {
        onPoolEvent,
        logger,
        poolBounds: node.share(tenantConfig.pool),
        cacheSigner,
      }),
    requests: lifecycle.requests,
    logger,
    metrics,
  })
  // Before anything can ask for a connection, and before start() opens `pool.min`.
  for (const name of options.paused ?? []) void set.tenants.get(name)?.pool.pause()
  const admin = createAdmin({
    tenants: set,
    openTransactions: (tenant) => transactions.count(tenant),
    logger,
    metrics,
    loadConfig: options.loadConfig,
    followLogLevel: options.logger !== undefined,
  })
  // Workers and peers come and go: the shares follow.
  node.onChange(() => {
    for (const tenant of set.tenants.values()) tenant.pool.resize(node.share(tenant.config.pool))
  })
  const clusterAdmin = new ClusterAdmin({
    admin,
    node,
    channel: options.cluster?.channel ?? localChannel(admin, node.worker.index),
    peers: options.cluster?.peers,
    connectTimeoutMs: config.server.cluster?.connectTimeoutMs ?? 2000,
  })
  // A node's /metrics: every worker's series added up, labelled with the node.
  if (node.clustered || node.worker.count > 1)
    metrics.registry.setDefaultLabels({ node: node.address })
  const nodeMetrics = options.cluster?.channel?.metrics
  const ready = () => readiness(set.tenants, lifecycle)
  const deps: HttpDeps = {
    lifecycle,
    tokens: set.tokens,
    tenants: set.tenants,
    bodyLimitBytes: config.server.bodyLimitBytes,
    sendTimeoutMs: config.server.sendTimeoutMs,
    logger,
    transactions,
    readiness: ready,
    reportBug,
    recorder: createRequestRecorder({ logger, metrics, settings: () => set.config.server.log }),
    admin,
    clusterAdmin,
    cluster: node,
    forwardTimeoutMs: config.server.cluster?.connectTimeoutMs ?? 2000,
    metrics: nodeMetrics ? { ...metrics, render: nodeMetrics } : metrics,
    publicMetrics: () => set.config.server.publicMetrics,
    extraRoutes: options.extraRoutes,
  }
  const app = createApp(deps)
  const wire = new WireServer(
    {
      admission: deps,
      config: () => set.config,
      logger,
      recorder: deps.recorder,
      metrics,
      reportBug,
    },
    {
      ...options.wire,
      worker: node.worker.index,
      ...(options.cluster?.relayCancel ? { relayCancel: options.cluster.relayCancel } : {}),
    },
  )

  const connections = new ClientConnections({
    max: () => set.config.server.maxClientConnections,
    warn: (fields, message) => logger.warn(fields, message),
    registry: metrics.registry,
  })

  const drain = (): void => {
    if (lifecycle.draining) return
    lifecycle.draining = true
    // Idle wire sessions close now; the others when their transaction ends.
    wire.drain()
  }

  // Built on first use: a gateway that only serves app.request() never makes them.
  let listener: RequestListener | undefined
  let upgrade: UpgradeListener | undefined
  const requestListener = () => (listener ??= createRequestListener(app, deps))
  const upgradeListener = () =>
    (upgrade ??= createUpgradeListener(wire, config.server.bodyLimitBytes))
  let closing: Promise<void> | undefined
  return {
    get config() {
      return set.config
    },
    app,
    get listener() {
      return requestListener()
    },
    get upgrade() {
      return upgradeListener()
    },
    wire,
    createPgListener: () => createPgListener(wire, pgTlsContext(config), connections),
    createHttpServer() {
      const server = createHttpServer(requestListener(), {
        connections,
        headersTimeoutMs: config.server.headersTimeoutMs,
        bodyLimitBytes: config.server.bodyLimitBytes,
      })
      return server.on('upgrade', upgradeListener())
    },
    connections,
    tenants: set.tenants,
    lifecycle,
    transactions,
    logger,
    metrics,
    admin,
    clusterAdmin,
    cluster: node,
    async start() {
      await Promise.all([...set.tenants.values()].map(startTenant))
    },
    readiness: ready,
    drain,
    close(graceMs = set.config.server.drainGraceMs) {
      closing ??= (async () => {
        drain()
        // In-flight requests and open transactions share one grace period.
        const deadline = Date.now() + graceMs
        const requestsDone = await lifecycle.settled(graceMs)
        const transactionsDone = await transactions.settled(Math.max(0, deadline - Date.now()))
        // Then what still runs is cancelled (SHUTTING_DOWN), what is open rolls back.
        lifecycle.stopping.abort()
        await transactions.closeAll()
        await lifecycle.settled(CANCELLED_WORK_MS)
        wire.close()
        const finished = requestsDone && transactionsDone
        await Promise.all([
          ...[...set.tenants.values()].map((t) => closeTenant(t, !finished)),
          set.close(!finished),
        ])
      })()
      return closing
    },
  }
}
