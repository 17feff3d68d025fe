/**
 * From a tenant's connection settings to pg's ClientConfig. Session defaults go into the
 * startup packet, so they survive DISCARD ALL; TLS follows libpq's sslmode names. pg gets
 * plain fields, never the URL: its own URL parser would print a warning of its own about
 * sslmode, and the config has already read and checked the URL.
 */
import type { ConnectionOptions as TlsOptions } from 'node:tls'
import type pg from 'pg'
import { parseConnectionUrl, type ConnectionUrl, type SslMode } from '../config/connection-url.js'
import type { ConnectionConfig, TenantConfig } from '../config/schema.js'
import type { CancelTarget } from './cancel-request.js'

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

/**
 * The output formats the gateway's answers are read in: ISO dates, PostgreSQL's own
 * intervals, hex bytea and floats printed exactly (any `extra_float_digits` above 0 on
 * PostgreSQL 12 and later; 3 is exact on older ones too), as pgJDBC also sends them. Given at
 * connect time, they win over an `ALTER ROLE` or `ALTER DATABASE … SET` of them, which would
 * otherwise change what every session prints: the edge client would read `SQL`-style dates
 * as invalid and get floats rounded to 15 digits. A wire client's own startup settings still
 * apply over them (server/wire/startup.ts).
 */
const OUTPUT_FORMATS = [
  '-c DateStyle=ISO',
  '-c IntervalStyle=postgres',
  '-c extra_float_digits=3',
  '-c bytea_output=hex',
]

/**
 * Where a connection goes, every default filled in (fields override the URL's parts). The
 * password is not enumerable, so printing an endpoint never shows it.
 */
export interface Endpoint {
  host: string
  port: number
  database: string
  user: string
  password: string | undefined
  sslmode: SslMode
}

/** A tenant connection's endpoint. The config is validated, so its URL reads. */
export function endpointOf(connection: ConnectionConfig): Endpoint {
  const parsed =
    connection.url === undefined
      ? undefined
      : parseConnectionUrl(connection.url, { hostOptional: connection.host !== undefined })
  if (parsed !== undefined && !parsed.ok)
    throw new Error(`invalid connection URL: ${parsed.problems[0]}`)
  const fromUrl: ConnectionUrl = parsed?.url ?? {}
  const endpoint = {
    host: connection.host ?? fromUrl.host ?? '127.0.0.1',
    port: connection.port ?? fromUrl.port ?? 5432,
    database: connection.database ?? fromUrl.database ?? 'postgres',
    user: connection.user ?? fromUrl.user ?? 'postgres',
    sslmode: connection.sslmode ?? fromUrl.sslmode ?? 'disable',
  } as Endpoint
  Object.defineProperty(endpoint, 'password', {
    value: connection.password ?? fromUrl.password,
    enumerable: false,
  })
  return endpoint
}

/** Resolves a tenant's connection; the password stays non-enumerable so it never prints. */
export function resolveConnection(tenant: TenantConfig): ResolvedConnection {
  const { connection, session, statementTimeoutMs, transactions } = tenant
  const { host, port, database, user, password, sslmode } = endpointOf(connection)
  const options = [`-c TimeZone=${optionValue(session.timeZone)}`, ...OUTPUT_FORMATS]
  const client: pg.ClientConfig = {
    host,
    port,
    database,
    user,
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
    value: password,
    enumerable: false,
  })
  return { client, cancel: { host, port } }
}
