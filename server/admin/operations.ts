/**
 * Everything an operator sees and steers, wired together for the gateway: the logger, the
 * metrics, the request middleware (logs, metrics, the in-flight barrier), the live tenant
 * set that reloads change, and the `/metrics` and `/admin` routes.
 */
import type { Hono, MiddlewareHandler } from 'hono'
import { ConfigError } from '../config/load.js'
import type { Config } from '../config/schema.js'
import type { GatewayEnv } from '../http/env.js'
import { silentLogger, type Logger } from '../log/logger.js'
import { logPoolEvent } from '../log/pool-log.js'
import { createRequestRecorder, requestLog, type RequestRecorder } from '../log/request-log.js'
import { createMetrics, type Metrics } from '../metrics/metrics.js'
import { metricsRoute } from '../http/routes/metrics.js'
import type { PoolEvent } from '../pool/pool.js'
import { createTenant } from '../tenants/tenant.js'
import { RequestBarrier } from '../lifecycle/request-barrier.js'
import { adminRoutes } from '../http/routes/admin.js'
import { TenantSet, type ReloadReport } from '../tenants/tenant-set.js'

/** Options of {@link createOperations} (and of the gateway). */
export interface OperationsOptions {
  /** Where logs go. @default a silent logger (in-process gateways, tests) */
  logger?: Logger
  /** Adds Node's process metrics to /metrics. @default false (the CLI turns them on) */
  processMetrics?: boolean
  /** Reads and validates the config file again, for `POST /admin/reload` and SIGHUP. */
  loadConfig?: () => Promise<Config>
  /** Also told of every pool event. */
  onPoolEvent?: (tenant: string, event: PoolEvent) => void
}

/** What the gateway needs that only it knows. */
export interface OperationsDeps {
  openTransactions: (tenant: string) => number
}

/** The operations side of one gateway. */
export interface Operations {
  readonly logger: Logger
  readonly metrics: Metrics
  readonly tenants: TenantSet
  /** Request middleware, mounted first. */
  readonly middleware: MiddlewareHandler<GatewayEnv>[]
  /** What that middleware does, for the direct `/v1/query` path (server/http/direct-query.ts). */
  readonly requests: { barrier: RequestBarrier; recorder: RequestRecorder }
  /** Mounts `/metrics` and `/admin/*`. */
  routes(app: Hono<GatewayEnv>): void
  /**
   * Reads the config file again and applies it. An invalid file throws {@link ConfigError}
   * and changes nothing; without a config file, throws BAD_REQUEST.
   */
  reload(): Promise<ReloadReport>
  /** Applies an already validated config. */
  apply(next: Config): Promise<ReloadReport>
}

/** Builds the operations side of a gateway for `config`. */
export function createOperations(
  config: Config,
  deps: OperationsDeps,
  options: OperationsOptions = {},
): Operations {
  const logger = options.logger ?? silentLogger()
  const barrier = new RequestBarrier()
  const metrics = createMetrics({
    processMetrics: options.processMetrics ?? false,
    openTransactions: deps.openTransactions,
    // Read at scrape time, once `set` exists.
    tenantNames: () => set.tenants.keys(),
  })
  const onPoolEvent = (tenant: string, event: PoolEvent): void => {
    metrics.poolEvent(tenant, event)
    logPoolEvent(logger, tenant, event)
    options.onPoolEvent?.(tenant, event)
  }
  const set = new TenantSet(config, {
    makeTenant: (name, tenantConfig) => createTenant(name, tenantConfig, { onPoolEvent }),
    barrier,
    logger,
    metrics,
  })
  const adminToken = () => set.config.server.adminToken

  const apply = async (next: Config): Promise<ReloadReport> => {
    const report = await set.reload(next)
    // A caller's logger follows the config; the default silent one stays silent.
    if (options.logger) logger.level = next.server.log.level
    metrics.reload('ok')
    return report
  }
  const loadConfig = options.loadConfig
  const reload = async (): Promise<ReloadReport> => {
    if (!loadConfig) {
      throw new ConfigError([
        'nothing to reload: the gateway was started without a config file (--config or SLUICE_CONFIG)',
      ])
    }
    let next: Config
    try {
      next = await loadConfig()
    } catch (error) {
      if (error instanceof ConfigError) {
        metrics.reload('invalid')
        logger.warn(
          { problems: error.problems },
          'config reload refused: the old config keeps serving',
        )
      }
      throw error
    }
    return apply(next)
  }

  const recorder = createRequestRecorder({
    logger,
    metrics,
    settings: () => set.config.server.log,
  })
  return {
    logger,
    metrics,
    tenants: set,
    middleware: [barrier.middleware(), requestLog(recorder)],
    requests: { barrier, recorder },
    routes(app) {
      app.route(
        '/',
        metricsRoute(metrics, {
          isPublic: () => set.config.server.publicMetrics,
          adminToken,
        }),
      )
      app.route(
        '/',
        adminRoutes(
          {
            tenants: set,
            openTransactions: deps.openTransactions,
            ...(loadConfig ? { reload } : {}),
          },
          adminToken,
        ),
      )
    },
    reload,
    apply,
  }
}
