/**
 * `sluice serve` (the default command): picks the database (config file, DATABASE_URL, or
 * the embedded server), builds the gateway, listens, prints the start-up summary, reloads
 * the config on SIGHUP and drains on SIGTERM/SIGINT.
 */
import { randomBytes } from 'node:crypto'
import { createHttpServer } from '../http/listener.js'
import type { AddressInfo } from 'node:net'
import { ConfigError, loadConfigFile, singleTenantConfig } from '../config/load.js'
import { redactText } from '../config/redact.js'
import { logSchema, type Config } from '../config/schema.js'
import { startEmbedded, type EmbeddedDatabase } from '../embedded.js'
import { createGateway } from '../gateway.js'
import { createLogger } from '../log/logger.js'
import { errorMessage } from '../log/pool-log.js'
import type { CliIo } from './io.js'
import { describeStartup } from './summary.js'

type Env = Record<string, string | undefined>

/** Parsed `serve` arguments. */
interface ServeArgs {
  config: string | undefined
}

function parseServeArgs(args: readonly string[]): ServeArgs {
  const parsed: ServeArgs = { config: undefined }
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === '--config') {
      parsed.config = args[++i]
      if (parsed.config === undefined) throw new ConfigError(['--config needs a FILE'])
    } else if (arg.startsWith('--config=')) parsed.config = arg.slice('--config='.length)
    else throw new ConfigError([`unknown argument "${arg}" (see --help)`])
  }
  return parsed
}

function portOf(name: string, value: string): number {
  const port = Number(value)
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new ConfigError([
      `${name} (${JSON.stringify(value)}) must be a port number from 0 to 65535`,
    ])
  return port
}

/**
 * The environment's overrides of a config: PORT, HOST, SLUICE_PG_PORT, SLUICE_ADMIN_TOKEN,
 * SLUICE_LOG_LEVEL.
 */
export function applyEnv(config: Config, env: Env): Config {
  const server = { ...config.server }
  if (env.HOST) server.host = env.HOST
  if (env.PORT) server.port = portOf('PORT', env.PORT)
  if (env.SLUICE_PG_PORT) server.pgPort = portOf('SLUICE_PG_PORT', env.SLUICE_PG_PORT)
  if (env.SLUICE_ADMIN_TOKEN && server.adminToken === undefined) {
    if (env.SLUICE_ADMIN_TOKEN.length < 16)
      throw new ConfigError(['SLUICE_ADMIN_TOKEN must be at least 16 characters'])
    server.adminToken = env.SLUICE_ADMIN_TOKEN
  }
  if (env.SLUICE_LOG_LEVEL) {
    const level = logSchema.shape.level.safeParse(env.SLUICE_LOG_LEVEL)
    if (!level.success) {
      throw new ConfigError([
        `SLUICE_LOG_LEVEL (${JSON.stringify(env.SLUICE_LOG_LEVEL)}) must be one of fatal, error, warn, info, debug, trace, silent`,
      ])
    }
    server.log = { ...server.log, level: level.data }
  }
  return { ...config, server }
}

/** Runs the gateway until a signal stops it. Resolves once it listens. */
export async function serveCommand(args: readonly string[], io: CliIo, env: Env): Promise<void> {
  const parsed = parseServeArgs(args)
  const configFile = parsed.config ?? env.SLUICE_CONFIG
  let config: Config
  let embedded: EmbeddedDatabase | undefined
  let printedToken: string | undefined
  if (configFile) {
    config = applyEnv(await loadConfigFile(configFile, env), env)
  } else {
    const token = env.SLUICE_TOKEN ?? randomBytes(24).toString('base64url')
    if (!env.SLUICE_TOKEN) printedToken = token
    let url = env.DATABASE_URL
    if (!url) {
      io.out(
        'sluice: no config file and no DATABASE_URL: starting the embedded PostgreSQL in ./.sluice/',
      )
      embedded = await startEmbedded(
        '.sluice',
        env.SLUICE_DEBUG ? (line) => process.stderr.write(line) : undefined,
      )
      url = embedded.url
    }
    config = applyEnv(singleTenantConfig(url, token), env)
  }

  const logger = createLogger(config.server.log)
  const gateway = createGateway(config, {
    logger,
    processMetrics: true,
    ...(configFile
      ? { loadConfig: async () => applyEnv(await loadConfigFile(configFile, env), env) }
      : {}),
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
  try {
    await gateway.start()
  } catch (error) {
    await embedded?.stop()
    throw error
  }
  const { host, port, pgPort } = config.server
  const server = createHttpServer(gateway.listener)
  server.on('upgrade', gateway.upgrade)
  server.once('error', (error: NodeJS.ErrnoException) => {
    io.err(`sluice: cannot listen on ${host}:${port}: ${error.code ?? error.message}`)
    process.exit(1)
  })
  const pgServer = pgPort === undefined ? undefined : gateway.createPgListener()
  pgServer?.once('error', (error: NodeJS.ErrnoException) => {
    io.err(`sluice: cannot listen on ${host}:${pgPort}: ${error.code ?? error.message}`)
    process.exit(1)
  })
  pgServer?.listen(pgPort, host, () => {
    const address = `${host}:${(pgServer.address() as AddressInfo).port}`
    io.out(`sluice: PostgreSQL protocol on ${address} (docs/wire.md)`)
  })
  server.listen(port, host, () => {
    const base = `http://${host}:${(server.address() as AddressInfo).port}`
    const facts = { baseUrl: base, configFile, embedded: embedded !== undefined }
    for (const line of describeStartup(config, facts)) io.out(`sluice: ${line}`)
    if (printedToken) {
      io.out(`sluice: token of tenant "default" (set SLUICE_TOKEN to choose one): ${printedToken}`)
      io.out(
        `sluice: try: curl -s ${base}/v1/query -H 'Authorization: Bearer ${printedToken}' -d '{"sql":"select now() as t"}'`,
      )
    }
    io.out(`sluice: listening on ${base}`)
  })

  process.on('SIGHUP', function reloadOnHangup() {
    gateway.admin.reload().then(
      (report) => io.out(`sluice: config reloaded: ${JSON.stringify(report)}`),
      (error: unknown) => {
        const problems = error instanceof ConfigError ? error.problems : [errorMessage(error)]
        for (const problem of problems) io.err(`sluice: reload refused: ${problem}`)
      },
    )
  })

  let stopping = false
  const stop = async (signal: string) => {
    if (stopping) {
      // A second signal means "now": the operator will not wait for the drain.
      io.err(`sluice: ${signal} again: exiting without finishing the drain`)
      process.exit(1)
    }
    stopping = true
    const graceMs = gateway.config.server.shutdownGraceMs
    io.out(`sluice: ${signal}: draining (up to ${graceMs} ms)`)
    // Should a connection never come back (a bug), do not hang for ever.
    setTimeout(() => {
      io.err('sluice: the drain did not finish in time: exiting with connections still open')
      process.exit(1)
    }, graceMs + 15_000).unref()
    server.close()
    pgServer?.close()
    const closeIdle = setInterval(() => server.closeIdleConnections(), 100)
    await gateway.close()
    clearInterval(closeIdle)
    server.closeAllConnections()
    await embedded?.stop()
    io.out('sluice: stopped')
    await new Promise<void>((resolve) => logger.flush(() => resolve()))
    process.exit(0)
  }
  process.on('SIGTERM', () => void stop('SIGTERM'))
  process.on('SIGINT', () => void stop('SIGINT'))
}
