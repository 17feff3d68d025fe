/**
 * The configuration file's one schema. Everything the gateway reads from a config file
 * passes through here once, at start-up; inside, code trusts the parsed types.
 * Every key and default is described in docs/configuration.md.
 */
import { z } from 'zod'
import { SSL_MODES, sslmodeProblem } from './connection-url.js'

const int = (min: number) => z.int().min(min)

/** The shortest token accepted: config tokens, `SLUICE_TOKEN` and `SLUICE_ADMIN_TOKEN` alike. */
export const TOKEN_MIN_LENGTH = 16

/** The one message for a token that is too short, wherever it comes from. */
export const TOKEN_TOO_SHORT = `must be at least ${TOKEN_MIN_LENGTH} characters (generate one with \`npm start -- token\`)`

/** Where a tenant's database is: a URL, fields, or both (fields override the URL). */
export const connectionSchema = z
  .object({
    url: z.string().min(1).optional().describe('postgres://user:password@host:port/database'),
    host: z.string().min(1).optional(),
    port: int(1).max(65535).optional(),
    database: z.string().min(1).optional(),
    user: z.string().min(1).optional(),
    password: z.string().optional(),
    sslmode: z
      .enum(SSL_MODES, {
        error: (issue) =>
          typeof issue.input === 'string' ? sslmodeProblem(issue.input) : undefined,
      })
      .optional()
      .describe('TLS mode; the URL may also carry ?sslmode='),
    ca: z
      .string()
      .min(1)
      .optional()
      .describe('PEM text of the CA that signs the server certificate'),
    caFile: z.string().min(1).optional().describe('Path of a PEM file with that CA'),
    connectTimeoutMs: int(1).default(5000),
  })
  .strict()

/** Pool knobs; defaults follow psycopg_pool where a gateway allows. */
export const poolSchema = z
  .object({
    min: int(0)
      .default(4)
      .describe('Connections kept open (opened at start, refilled after a loss)'),
    max: int(1).default(10).describe('Never more than this many connections'),
    acquireTimeoutMs: int(1)
      .default(30_000)
      .describe('Wait this long for a connection, then POOL_TIMEOUT'),
    maxWaiting: int(0)
      .default(0)
      .describe('Refuse with POOL_QUEUE_FULL when this many already wait; 0 = no limit'),
    maxLifetimeSeconds: z
      .number()
      .positive()
      .default(3600)
      .describe('Recycle connections this old (minus up to 5% jitter)'),
    maxIdleSeconds: z
      .number()
      .positive()
      .default(600)
      .describe('Close connections idle this long, down to min'),
    healthCheckAfterIdleMs: int(0)
      .default(30_000)
      .describe('Check a connection idle longer than this before use; 0 = always'),
    holdWarningMs: int(1)
      .default(60_000)
      .describe('Log a warning (with the request id) when a request holds a connection this long'),
    prepareThreshold: int(0)
      .nullable()
      .default(null)
      .describe(
        "Prepare a /v1/query statement once a connection ran its text this often (psycopg's prepare_threshold); 0 = at once, null = never (the default: a connection holding named statements pays a costlier session reset, docs/pooling.md)",
      ),
    preparedMax: int(1)
      .default(100)
      .describe(
        "Prepared statements kept per connection, least recently used closed first (psycopg's prepared_max)",
      ),
  })
  .strict()

/** A bearer token: the plain secret (use `${ENV}`), or its sha256 in hex. */
export const tokenSchema = z.union([
  z
    .object({
      token: z.string().min(TOKEN_MIN_LENGTH, { error: TOKEN_TOO_SHORT }),
      role: z.enum(['readwrite', 'readonly']).default('readwrite'),
    })
    .strict(),
  z
    .object({
      sha256: z
        .string()
        .regex(/^[0-9a-f]{64}$/i, { error: 'must be 64 hex digits (the sha256 of the token)' }),
      role: z.enum(['readwrite', 'readonly']).default('readwrite'),
    })
    .strict(),
])

/** Settings every connection starts with; the session returns to them after a reset. */
export const sessionSchema = z
  .object({
    timeZone: z.string().min(1).default('UTC'),
    applicationName: z.string().min(1).max(63).default('sluice'),
  })
  .strict()

/** An origin as browsers send it (`https://app.example.com`, no path), or `*`. */
const origin = z.string().refine(
  (value) => {
    if (value === '*') return true
    try {
      return new URL(value).origin === value
    } catch {
      return false
    }
  },
  {
    error:
      'must be an origin such as "https://app.example.com" (scheme, host, port; no path), or "*"',
  },
)

/** Browsers: which web origins may call the tenant's API (docs/client.md#browsers). */
export const corsSchema = z
  .object({
    origins: z
      .array(origin)
      .default([])
      .describe(
        'Web origins whose pages may call this tenant with its tokens ("*" for any); none by default',
      ),
  })
  .strict()

/** Interactive transaction limits. */
export const transactionsSchema = z
  .object({
    maxOpenShare: z
      .number()
      .min(0)
      .max(1)
      .default(0.5)
      .describe('Share of pool.max that open transactions may hold'),
    idleTimeoutMs: int(1).default(10_000).describe('Default idle timeout'),
    maxIdleTimeoutMs: int(1).default(60_000).describe('Cap on a requested idle timeout'),
    timeoutMs: int(1).default(30_000).describe('Default maximum duration'),
    maxTimeoutMs: int(1).default(300_000).describe('Cap on a requested maximum duration'),
  })
  .strict()

/** Limits of streamed results (`Accept: application/x-ndjson`); each row stays within maxResultBytes. */
export const streamSchema = z
  .object({
    maxRows: int(1)
      .nullable()
      .default(null)
      .describe('Rows per stream before it ends with RESULT_TOO_LARGE; null = no limit'),
    maxBytes: int(1)
      .nullable()
      .default(null)
      .describe('Bytes of rows per stream before it ends with RESULT_TOO_LARGE; null = no limit'),
  })
  .strict()

/** The opt-in query cache of a tenant (docs/cache.md). */
export const cacheSchema = z
  .object({
    enabled: z
      .boolean()
      .default(false)
      .describe(
        'Answer /v1/query reads that ask for it ("cache": {…}) from memory; off: no cost at all',
      ),
    maxBytes: int(1)
      .default(64 * 1024 * 1024)
      .describe('Memory for cached results; the least recently used are evicted past it'),
    maxEntryBytes: int(1)
      .default(1024 * 1024)
      .describe('A result larger than this (as JSON) is answered but not kept'),
    defaultTtlMs: int(1)
      .default(60_000)
      .describe('How long a result stays fresh when the request gives no ttlMs'),
    maxTtlMs: int(1).default(86_400_000).describe('Cap on a request ttlMs + swrMs'),
  })
  .strict()

/** One tenant: a database, its pool, its tokens and its limits. */
export const tenantSchema = z
  .object({
    connection: connectionSchema,
    pool: poolSchema.prefault({}),
    tokens: z.array(tokenSchema).min(1, { error: 'needs at least one token' }),
    allowPrivilegedRole: z
      .boolean()
      .default(false)
      .describe(
        'Serve the tenant even when its database role is a superuser, has BYPASSRLS or may reach server files or programs (every token holder runs SQL as that role)',
      ),
    statementTimeoutMs: int(1)
      .default(30_000)
      .describe('Cap (and default) for a request timeoutMs'),
    maxRows: int(1).default(100_000).describe('Rows per result before RESULT_TOO_LARGE'),
    maxResultBytes: int(1)
      .default(10 * 1024 * 1024)
      .describe(
        'Bytes of rows per answer before RESULT_TOO_LARGE (counted as sent by PostgreSQL); also the most one streamed row may have',
      ),
    stream: streamSchema.prefault({}),
    session: sessionSchema.prefault({}),
    transactions: transactionsSchema.prefault({}),
    cors: corsSchema.prefault({}),
    cache: cacheSchema.prefault({}),
  })
  .strict()

/** Structured JSON logs (pino) on stdout. SQL text and parameters only when asked for. */
export const logSchema = z
  .object({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    statements: z
      .enum(['none', 'text', 'text-and-params'])
      .default('none')
      .describe(
        'Log each client statement (at debug) and add it to slow-statement lines: none, its SQL text, or text and parameters',
      ),
    slowStatementMs: int(0)
      .default(1000)
      .describe('Log statements that run longer than this at warn; 0 = off'),
  })
  .strict()

/** The shortest peer secret accepted (`server.cluster.secret`). */
export const PEER_SECRET_MIN_LENGTH = 32

/**
 * Several gateway nodes as one (docs/deploy.md): where the peers are, the secret they share,
 * how often they check on each other. With it, a tenant's `pool.min` and `pool.max` are the
 * whole cluster's, divided among the nodes that answer.
 */
export const clusterSchema = z
  .object({
    peers: z
      .array(z.string().min(1))
      .default([])
      .describe(
        'host:port of every node, as its HTTP listener is reached from the others (this node may be listed too)',
      ),
    dns: z
      .string()
      .min(1)
      .optional()
      .describe(
        'A DNS name whose addresses are the nodes (a Kubernetes headless service), each at dnsPort',
      ),
    dnsPort: int(1)
      .max(65535)
      .optional()
      .describe('Port of the nodes found through dns; default server.port'),
    advertise: z
      .string()
      .min(1)
      .optional()
      .describe(
        'This node as its peers reach it, host:port (e.g. "${POD_IP}:8080"); default server.host:server.port',
      ),
    secret: z
      .string()
      .min(PEER_SECRET_MIN_LENGTH, {
        error: `must be at least ${PEER_SECRET_MIN_LENGTH} characters (generate one with \`npm start -- token\`)`,
      })
      .describe(
        'Shared by every node (use ${ENV}): authenticates forwarded requests and admin fan-out, signs transaction ids',
      ),
    heartbeatMs: int(100)
      .default(1000)
      .describe(
        'How often each node checks that its peers answer (a peer is gone after two misses)',
      ),
    connectTimeoutMs: int(1)
      .default(2000)
      .describe(
        'How long a forward or a check may take to reach a peer before it counts as unreachable',
      ),
  })
  .strict()

/** Process-wide settings. */
export const serverSchema = z
  .object({
    host: z.string().min(1).default('127.0.0.1'),
    port: int(0).max(65535).default(8080),
    bodyLimitBytes: int(1)
      .default(1024 * 1024)
      .describe('Request bodies over this get PAYLOAD_TOO_LARGE'),
    drainGraceMs: int(0)
      .default(10_000)
      .describe(
        'On SIGTERM/SIGINT, how long the gateway keeps accepting (answering SHUTTING_DOWN) while a load balancer stops routing to it and open transactions finish; then what still runs is cancelled',
      ),
    sendTimeoutMs: int(1)
      .default(30_000)
      .describe(
        'Close the connection of a client that reads nothing of its answer for this long (between two writes, as nginx send_timeout)',
      ),
    headersTimeoutMs: int(1)
      .default(10_000)
      .describe(
        'Close a client connection that sends nothing for this long after connecting, and answer 408 to one whose request headers take longer (Node headersTimeout); a whole request may take this plus 1 s per 32 KiB of bodyLimitBytes',
      ),
    maxClientConnections: int(1)
      .default(10_000)
      .describe(
        'Client connections one process holds at once, HTTP (WebSockets included) and pgPort together; one more is refused at once (429 RATE_LIMITED on HTTP, 53300 on pgPort). Per worker',
      ),
    adminToken: z
      .string()
      .min(TOKEN_MIN_LENGTH, { error: TOKEN_TOO_SHORT })
      .optional()
      .describe('Bearer token of the /admin API (use ${ENV}); the admin API is off without it'),
    publicMetrics: z
      .boolean()
      .default(true)
      .describe('Serve /metrics without a token; false = require the admin token'),
    log: logSchema.prefault({}),
    pgPort: int(0)
      .max(65535)
      .optional()
      .describe(
        'Also serve the PostgreSQL protocol on this TCP port (psql, pg, pgbench…); off when unset (docs/wire.md)',
      ),
    pgTls: z
      .object({
        certFile: z.string().min(1).describe('PEM certificate (chain) of the pgPort listener'),
        keyFile: z.string().min(1).describe('PEM private key of that certificate'),
      })
      .strict()
      .optional()
      .describe('TLS for pgPort: SSLRequest is answered with S when set, N otherwise'),
    wireMaxHandshakes: int(1)
      .default(128)
      .describe(
        'PostgreSQL protocol connections (pgPort and the /v2 WebSocket) that may be connecting and authenticating at once; more are refused with 53300 until one is done (docs/wire.md)',
      ),
    workers: z
      .union([int(1).max(255), z.literal('auto')])
      .default(1)
      .describe(
        'Worker processes serving the same ports, each with its share of every pool; auto = one per available core',
      ),
    cacheSecret: z
      .string()
      .min(PEER_SECRET_MIN_LENGTH, {
        error: `must be at least ${PEER_SECRET_MIN_LENGTH} characters (generate one with \`npm start -- token\`)`,
      })
      .optional()
      .describe(
        'Shared by every Sluice process whose query caches use the same database (use ${ENV}): signs their invalidation channel. Default: derived from server.cluster.secret, else a key of this node alone (its workers share it)',
      ),
    cluster: clusterSchema
      .optional()
      .describe('Several nodes as one: peers, their shared secret, a cluster-wide pool budget'),
  })
  .strict()

/** The whole configuration file. */
export const configSchema = z
  .object({
    $schema: z.string().optional(),
    server: serverSchema.prefault({}),
    tenants: z
      .record(
        z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, {
          error: 'tenant names use a-z, 0-9, - and _ (at most 63 characters)',
        }),
        tenantSchema,
      )
      .refine((tenants) => Object.keys(tenants).length > 0, { error: 'needs at least one tenant' }),
  })
  .strict()

/** The configuration file as written (defaults optional). */
export type ConfigInput = z.input<typeof configSchema>
/** The configuration with every default filled in. */
export type Config = z.output<typeof configSchema>
/** One tenant's resolved configuration. */
export type TenantConfig = Config['tenants'][string]
/** A tenant's pool settings. */
export type PoolConfig = TenantConfig['pool']
/** A tenant's connection settings. */
export type ConnectionConfig = TenantConfig['connection']
/** A token entry. */
export type TokenConfig = TenantConfig['tokens'][number]
/** A tenant's cache settings. */
export type CacheConfig = TenantConfig['cache']
/** The logging settings. */
export type LogConfig = Config['server']['log']
/** The cluster settings (several nodes). */
export type ClusterConfig = NonNullable<Config['server']['cluster']>
