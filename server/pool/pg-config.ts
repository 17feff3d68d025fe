/**
 * From a tenant's connection settings to pg's ClientConfig. Session defaults go into the
 * startup packet, so they survive DISCARD ALL; TLS follows libpq's sslmode names.
 */
import type { ConnectionOptions as TlsOptions } from 'node:tls'
import type pg from 'pg'
import { parse, type ConnectionOptions } from 'pg-connection-string'
import type { TenantConfig } from '../config/schema.js'
import type { CancelTarget } from './connection.js'

/** pg's config plus where cancel requests go. */
export interface ResolvedConnection {
  client: pg.ClientConfig
  cancel: CancelTarget
}

function tlsFor(mode: string, ca: string | undefined, servername: string): TlsOptions | false {
  switch (mode) {
    case 'disable':
      return false
    case 'require':
      // Encrypted, not verified: what libpq's require means when no CA is given.
      return ca === undefined ? { rejectUnauthorized: false } : { ca, servername }
    case 'verify-ca':
      return { ca, rejectUnauthorized: true, checkServerIdentity: () => undefined }
    default:
      return ca === undefined
        ? { rejectUnauthorized: true, servername }
        : { ca, rejectUnauthorized: true, servername }
  }
}

// Startup options are split on spaces; a backslash escapes one.
function optionValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/ /g, '\\ ')
}

/** Resolves a tenant's connection; the password stays non-enumerable so it never prints. */
export function resolveConnection(tenant: TenantConfig): ResolvedConnection {
  const { connection, session, statementTimeoutMs, transactions } = tenant
  const fromUrl: Partial<ConnectionOptions> =
    connection.url === undefined ? {} : parse(connection.url)
  const sslmode =
    connection.sslmode ??
    (connection.url === undefined
      ? undefined
      : (new URL(connection.url).searchParams.get('sslmode') ?? undefined)) ??
    'disable'
  const host = connection.host ?? fromUrl.host ?? '127.0.0.1'
  const port = connection.port ?? (fromUrl.port ? Number(fromUrl.port) : 5432)
  const options = [`-c TimeZone=${optionValue(session.timeZone)}`]
  const client: pg.ClientConfig = {
    host,
    port,
    database: connection.database ?? fromUrl.database ?? 'postgres',
    user: connection.user ?? fromUrl.user ?? 'postgres',
    application_name: session.applicationName,
    options: options.join(' '),
    // The server enforces the tenant's cap too, should the gateway's own timer not fire.
    statement_timeout: statementTimeoutMs,
    // A transaction the gateway lost track of cannot hold locks for ever.
    idle_in_transaction_session_timeout: transactions.maxIdleTimeoutMs + 5_000,
    connectionTimeoutMillis: connection.connectTimeoutMs,
    keepAlive: true,
    ssl: tlsFor(sslmode, connection.ca, host),
  }
  Object.defineProperty(client, 'password', {
    value: connection.password ?? fromUrl.password ?? undefined,
    enumerable: false,
  })
  return { client, cancel: { host, port } }
}
