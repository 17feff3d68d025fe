/**
 * `sluice serve` (the default command): picks the database (config file, DATABASE_URL, or
 * the embedded server), builds the gateway, listens, prints the start-up summary, reloads
 * the config on SIGHUP and drains on SIGTERM/SIGINT. Whatever fails on the way stops what
 * was started (the pools, the embedded server) before the error reaches the CLI.
 */
import type { AddressInfo } from 'node:net'
import { applyEnv, envValue, type Env } from '../config/environment.js'
import { ConfigError, loadConfigFile } from '../config/load.js'
import { redactText, secretsOf } from '../config/redact.js'
import { createGateway } from '../gateway.js'
import { createHttpServer } from '../http/listener.js'
import { createLogger } from '../log/logger.js'
import { errorMessage } from '../log/pool-log.js'
import { isStartupError } from '../startup-error.js'
import { openDatabaseSource, type ServeRequest } from './database-source.js'
import type { CliIo } from './io.js'
import { listen } from './listen.js'
import { describeStartup } from './summary.js'

function parseServeArgs(args: readonly string[]): ServeRequest {
  const parsed: ServeRequest = { configFile: undefined, dataDir: undefined }
  const problems: string[] = []
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    const [name, inline] = arg.startsWith('--') ? arg.split(/=(.*)/s, 2) : [arg, undefined]
    if (name !== '--config' && name !== '--data-dir') {
      problems.push(`unknown argument "${arg}" (see --help)`)
      continue
    }
    const value = inline ?? args[++i]
    if (value === undefined || value === '')
      problems.push(`${name} needs a ${name === '--config' ? 'FILE' : 'DIR'}`)
    else if (name === '--config') parsed.configFile = value
    else parsed.dataDir = value
  }
  if (problems.length > 0) throw new ConfigError(problems)
  return parsed
}

// An unexpected error, its message and stack cleared of the config's secrets.
function redacted(error: unknown, secrets: string[]): unknown {
  if (!(error instanceof Error) || error instanceof ConfigError || isStartupError(error))
    return error
  const clean = new Error(redactText(error.message, secrets))
  if (error.stack !== undefined) clean.stack = redactText(error.stack, secrets)
  return clean
}

/** Runs the gateway until a signal stops it. Resolves once it listens. */
export async function serveCommand(args: readonly string[], io: CliIo, env: Env): Promise<void> {
  const request = parseServeArgs(args)
  // A signal during start-up (the embedded server takes seconds) is kept, and honoured as
  // soon as there is something to stop: dying at once would leave PostgreSQL running. A
  // second one (not the same Ctrl-C, see below) exits now; exit handlers stop PostgreSQL.
  let early: string | undefined
  let earlyAt = 0
  const keepSignal = (signal: string) => {
    if (early === undefined) [early, earlyAt] = [signal, Date.now()]
    else if (signal !== 'SIGINT' || Date.now() - earlyAt >= 1000) {
      io.err(`sluice: ${signal} again: exiting before the start-up finished`)
      process.exit(1)
    }
  }
  process.on('SIGTERM', keepSignal)
  process.on('SIGINT', keepSignal)
  try {
    await serve(request, io, env)
  } finally {
    process.removeListener('SIGTERM', keepSignal)
    process.removeListener('SIGINT', keepSignal)
  }
  // The handlers `serve` installed take it from here.
  if (early !== undefined) process.emit(early as NodeJS.Signals, early as NodeJS.Signals)
}

/** Starts the gateway and installs its signal handlers; resolves once it listens. */
async function serve(request: ServeRequest, io: CliIo, env: Env): Promise<void> {
  const debug =
    envValue(env, 'SLUICE_DEBUG') === undefined
      ? undefined
      : (line: string) => process.stderr.write(line)
  const { config, configFile, embedded, printToken } = await openDatabaseSource(request, env, {
    say: (line) => io.out(`sluice: ${line}`),
    debug,
  })

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
  const { host, port, pgPort } = config.server
  const server = createHttpServer(gateway.listener)
  server.on('upgrade', gateway.upgrade)
  const pgServer = pgPort === undefined ? undefined : gateway.createPgListener()
  try {
    await gateway.start()
    await listen(server, host, port)
    if (pgServer) await listen(pgServer, host, pgPort!)
  } catch (error) {
    server.close()
    pgServer?.close()
    await gateway.close(0)
    await embedded?.stop()
    throw redacted(error, secretsOf(config))
  }
  server.on('error', (error) => logger.error({ error: errorMessage(error) }, 'server error'))
  pgServer?.on('error', (error) => logger.error({ error: errorMessage(error) }, 'server error'))
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
    const graceMs = gateway.config.server.drainGraceMs
    io.out(
      `sluice: ${signal}: draining for ${graceMs} ms (/readyz answers 503, new work SHUTTING_DOWN, open transactions may finish; a second signal exits now)`,
    )
    // Should a connection never come back (a bug), do not hang for ever.
    setTimeout(() => {
      io.err('sluice: the drain did not finish in time: exiting with connections still open')
      process.exit(1)
    }, graceMs + 15_000).unref()
    // The listeners keep accepting for the whole grace, so a load balancer has time to stop
    // routing here; every answer meanwhile closes its keep-alive socket.
    gateway.drain()
    await new Promise((resolve) => setTimeout(resolve, graceMs))
    server.close()
    pgServer?.close()
    server.closeIdleConnections()
    // What still runs is cancelled (SHUTTING_DOWN) and open transactions roll back.
    await gateway.close(0)
    server.closeAllConnections()
    await embedded?.stop()
    io.out('sluice: stopped')
    await new Promise<void>((resolve) => logger.flush(() => resolve()))
    process.exit(0)
  }
  // Ctrl-C under `npm start` delivers SIGINT twice at once: the terminal sends it to the
  // whole process group and npm forwards its own. Under npm (which sets npm_lifecycle_event
  // for its scripts), a SIGINT within a second of the first is that same press, not the
  // operator's "now". Any other repeated signal still means "now".
  const underNpm = env.npm_lifecycle_event !== undefined
  let firstSigintAt: number | undefined
  const onSignal = (signal: string) => {
    if (signal === 'SIGINT' && underNpm) {
      const now = Date.now()
      if (firstSigintAt !== undefined && now - firstSigintAt < 1000) return
      firstSigintAt ??= now
    }
    void stop(signal)
  }
  process.on('SIGTERM', () => onSignal('SIGTERM'))
  process.on('SIGINT', () => onSignal('SIGINT'))

  // Printed last: a supervisor that reads "listening on" may signal at once.
  const base = `http://${host.includes(':') ? `[${host}]` : host}:${(server.address() as AddressInfo).port}`
  const facts = { baseUrl: base, configFile, embedded }
  for (const line of describeStartup(config, facts)) io.out(`sluice: ${line}`)
  if (printToken) {
    io.out(
      `sluice: token of tenant "default"${embedded ? `, kept in ${embedded.folder}/token` : ''} (set SLUICE_TOKEN to choose one): ${printToken}`,
    )
    io.out(
      `sluice: try: curl -s ${base}/v1/query -H 'Authorization: Bearer ${printToken}' -d '{"sql":"select now() as t"}'`,
    )
  }
  if (pgServer) {
    const address = `${host}:${(pgServer.address() as AddressInfo).port}`
    io.out(`sluice: PostgreSQL protocol on ${address} (docs/wire.md)`)
  }
  io.out(`sluice: listening on ${base}`)
}
