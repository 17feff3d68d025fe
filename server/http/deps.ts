/** What the HTTP side needs from the gateway: one type for the app, the direct path and `/sql`. */
import type { Hono } from 'hono'
import type { Admin } from '../admin/admin.js'
import type { ClusterAdmin } from '../cluster/cluster-admin.js'
import type { ClusterNode } from '../cluster/node.js'
import type { TransactionRegistry } from '../engine/transactions.js'
import type { ReportBug } from '../errors.js'
import type { Logger } from '../log/logger.js'
import type { RequestRecorder } from '../log/request-recorder.js'
import type { Metrics } from '../metrics/metrics.js'
import type { AdmissionDeps } from '../tenants/admission.js'
import type { Readiness } from '../tenants/readiness.js'
import type { GatewayEnv } from './env.js'

/** The gateway, as its HTTP entry points see it. */
export interface HttpDeps extends AdmissionDeps {
  transactions: TransactionRegistry
  readiness: () => Promise<Readiness>
  reportBug: ReportBug
  /** Starts the log line and metrics of each request. */
  recorder: RequestRecorder
  admin: Admin
  /** The admin operations over every worker and node (server/cluster/cluster-admin.ts). */
  clusterAdmin: ClusterAdmin
  /** This process's place among its node's workers and the cluster's nodes. */
  cluster: ClusterNode
  /** How long a forwarded request may take to reach its worker or node. */
  forwardTimeoutMs: number
  metrics: Metrics
  /** Serve `/metrics` without a token? Read on each scrape. */
  publicMetrics: () => boolean
  /** Close the connection of a client that reads nothing of its answer for this long. */
  sendTimeoutMs: number
  /** For the events of the HTTP side that no request line tells (send timeouts). */
  logger: Logger
  /** Extra routes mounted before the v1 API (tests, embedders). */
  extraRoutes?: ((app: Hono<GatewayEnv>) => void) | undefined
}
