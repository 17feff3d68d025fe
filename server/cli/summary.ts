/**
 * The friendly start-up summary: each tenant with its pool and database (never a
 * password), the connection budget, and where to reach the gateway, its metrics and its
 * admin API.
 */
import { join } from 'node:path'
import { workerCount } from '../cluster/address.js'
import type { Config, TenantConfig } from '../config/schema.js'
import { endpointOf } from '../pool/pg-config.js'
import { openFilesWarning } from './open-files.js'

/** `user@host:port/database` of a tenant, without its password. */
export function databaseOf(tenant: TenantConfig): string {
  const { user, host, port, database } = endpointOf(tenant.connection)
  return `${user}@${host.includes(':') ? `[${host}]` : host}:${port}/${database}`
}

/** One line per tenant, then the connection budget. */
export function describeTenants(config: Config): string[] {
  const entries = Object.entries(config.tenants)
  const lines = entries.map(
    ([name, tenant]) =>
      `tenant ${name}: pool min ${tenant.pool.min}, max ${tenant.pool.max}, database ${databaseOf(tenant)}, ${tenant.tokens.length} token${tenant.tokens.length === 1 ? '' : 's'}${tenant.cache.enabled ? `, query cache on (${Math.round(tenant.cache.maxBytes / 1024 / 1024)} MiB, docs/cache.md)` : ''}`,
  )
  const total = entries.reduce((sum, [, tenant]) => sum + tenant.pool.max, 0)
  // Each query cache also keeps a listening connection of its own, in every process that
  // serves (each worker: the primary serves none).
  const caches = entries.filter(([, tenant]) => tenant.cache.enabled).length
  const processes = workerCount(config)
  const listeners = caches * processes
  const perProcess =
    processes === 1
      ? `${caches} for query caches`
      : `${caches} for query caches in each of ${processes} worker processes`
  lines.push(
    config.server.cluster
      ? `at most ${total} PostgreSQL connections from the whole cluster (the sum of pool.max, divided among the nodes that answer; a role's CONNECTION LIMIT makes it a hard limit, docs/deploy.md)${caches === 0 ? '' : `, plus ${perProcess} on each node`}`
      : `at most ${total + listeners} PostgreSQL connections from this instance (the sum of pool.max${caches === 0 ? '' : `, plus ${perProcess}`}): replicas × ${total + listeners} must stay under max_connections`,
  )
  return lines
}

/** How the node serves: its workers, and its place in a cluster. */
function nodeLines(config: Config, workers: number, address: string): string[] {
  const lines: string[] = []
  if (workers > 1)
    lines.push(
      `${workers} worker processes share the ports, each with its share of every pool (server.workers)`,
    )
  const cluster = config.server.cluster
  if (cluster) {
    const peers = [
      ...cluster.peers,
      ...(cluster.dns ? [`the addresses of ${cluster.dns}`] : []),
    ].join(', ')
    lines.push(`cluster node ${address}, peers: ${peers}`)
  }
  return lines
}

/** What the start-up summary needs beyond the config. */
export interface StartupFacts {
  baseUrl: string
  configFile: string | undefined
  /** The embedded server's folders, when it runs. */
  embedded: { folder: string; dataDir: string } | undefined
  /** Worker processes (1: this process serves). */
  workers?: number
  /** This node's address as its peers reach it. */
  address?: string
  /** The process's limit on open files (./open-files.ts), when known. */
  openFiles?: number | undefined
}

// Always said, not only under SLUICE_DEBUG: as root the data may live outside the folder.
function embeddedLines({ folder, dataDir }: { folder: string; dataDir: string }): string[] {
  const inside = dataDir === join(folder, 'pgdata')
  return [
    'database from the embedded PostgreSQL (a psql-ready URL: npm start -- embedded-url)',
    inside
      ? `data folder: ${folder} (stop with Ctrl-C; delete the folder to start over with an empty database)`
      : `data folder: ${folder}, PostgreSQL's data in ${dataDir} (as root, PostgreSQL runs as the 'postgres' user, which cannot reach the folder; delete both to start over)`,
  ]
}

/** The start-up summary's lines (without the final "listening on" line). */
export function describeStartup(config: Config, facts: StartupFacts): string[] {
  const source = facts.embedded
    ? embeddedLines(facts.embedded)
    : [
        facts.configFile
          ? `database from config file ${facts.configFile} (SIGHUP or POST /admin/reload reloads it)`
          : 'database from DATABASE_URL',
      ]
  return [
    ...source,
    ...nodeLines(config, facts.workers ?? 1, facts.address ?? ''),
    ...describeTenants(config),
    `metrics: ${facts.baseUrl}/metrics${config.server.publicMetrics ? '' : ' (admin token required)'}`,
    config.server.adminToken === undefined
      ? 'admin API: off (set server.adminToken or SLUICE_ADMIN_TOKEN to turn it on)'
      : `admin API: ${facts.baseUrl}/admin/tenants (Authorization: Bearer <admin token>)`,
    `log level ${config.server.log.level}, statements logged: ${config.server.log.statements}, slow-statement threshold: ${config.server.log.slowStatementMs === 0 ? 'off' : `${config.server.log.slowStatementMs} ms`}`,
    ...optional(openFilesWarning(config, facts.openFiles)),
  ]
}

function optional(line: string | undefined): string[] {
  return line === undefined ? [] : [line]
}
