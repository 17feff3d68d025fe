/**
 * The friendly start-up summary: each tenant with its pool and database (never a
 * password), the connection budget, and where to reach the gateway, its metrics and its
 * admin API.
 */
import { parse, type ConnectionOptions } from 'pg-connection-string'
import type { Config, TenantConfig } from '../config/schema.js'

/** `user@host:port/database` of a tenant, without its password. */
export function databaseOf(tenant: TenantConfig): string {
  const { connection } = tenant
  let fromUrl: Partial<ConnectionOptions>
  try {
    fromUrl = connection.url === undefined ? {} : parse(connection.url)
  } catch {
    fromUrl = {}
  }
  const user = connection.user ?? fromUrl.user ?? 'postgres'
  const host = connection.host ?? fromUrl.host ?? '127.0.0.1'
  const port = connection.port ?? fromUrl.port ?? 5432
  const database = connection.database ?? fromUrl.database ?? 'postgres'
  return `${user}@${host}:${port}/${database}`
}

/** One line per tenant, then the connection budget. */
export function describeTenants(config: Config): string[] {
  const entries = Object.entries(config.tenants)
  const lines = entries.map(
    ([name, tenant]) =>
      `tenant ${name}: pool min ${tenant.pool.min}, max ${tenant.pool.max}, database ${databaseOf(tenant)}, ${tenant.tokens.length} token${tenant.tokens.length === 1 ? '' : 's'}`,
  )
  const total = entries.reduce((sum, [, tenant]) => sum + tenant.pool.max, 0)
  lines.push(
    `at most ${total} PostgreSQL connections from this instance (the sum of pool.max): replicas × ${total} must stay under max_connections`,
  )
  return lines
}

/** What the start-up summary needs beyond the config. */
export interface StartupFacts {
  baseUrl: string
  configFile: string | undefined
  embedded: boolean
}

/** The start-up summary's lines (without the final "listening on" line). */
export function describeStartup(config: Config, facts: StartupFacts): string[] {
  const source = facts.configFile
    ? `config file ${facts.configFile} (SIGHUP or POST /admin/reload reloads it)`
    : facts.embedded
      ? 'the embedded PostgreSQL in ./.sluice/'
      : 'DATABASE_URL'
  return [
    `database from ${source}`,
    ...describeTenants(config),
    `metrics: ${facts.baseUrl}/metrics${config.server.publicMetrics ? '' : ' (admin token required)'}`,
    config.server.adminToken === undefined
      ? 'admin API: off (set server.adminToken or SLUICE_ADMIN_TOKEN to turn it on)'
      : `admin API: ${facts.baseUrl}/admin/tenants (Authorization: Bearer <admin token>)`,
    `log level ${config.server.log.level}, statements logged: ${config.server.log.statements}, slow-statement threshold: ${config.server.log.slowStatementMs === 0 ? 'off' : `${config.server.log.slowStatementMs} ms`}`,
  ]
}
