/**
 * `sluice serve` (the default command): picks the database (config file, DATABASE_URL, or
 * the embedded server), builds the gateway, listens, prints the start-up summary, reloads
 * the config on SIGHUP and drains on SIGTERM/SIGINT. With `server.workers` above 1 this
 * process becomes the primary of its workers (./serve-primary.ts) and each worker runs
 * ./serve-worker.ts; with `server.cluster` it checks its peers. Whatever fails on the way
 * stops what was started (the pools, the workers, the embedded server) before the error
 * reaches the CLI.
 */
import cluster from 'node:cluster'
import { nodeAddress, workerCount, workerProblems } from '../cluster/address.js'
import { applyEnv, envValue, type Env } from '../config/environment.js'
import { ConfigError, loadConfigFile } from '../config/load.js'
import type { Config } from '../config/schema.js'
import { createLogger } from '../log/logger.js'
import { errorMessage } from '../log/pool-log.js'
import { openDatabaseSource, type DatabaseSource, type ServeRequest } from './database-source.js'
import type { CliIo } from './io.js'
import { serveAlone } from './serve-alone.js'
import { servePrimary } from './serve-primary.js'
import { serveWorker } from './serve-worker.js'
import type { Serving } from './serving.js'
import { openFilesLimit } from './open-files.js'
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

/** Runs the gateway until a signal stops it. Resolves once it listens. */
export async function serveCommand(args: readonly string[], io: CliIo, env: Env): Promise<void> {
  // A worker forked by the primary: it takes everything from the primary, signals included.
  if (cluster.isWorker) return serveWorker()
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
  } catch (error) {
    // Ctrl-C reaches initdb and PostgreSQL too (the terminal signals the whole group): they
    // stop, and the start fails because of it. What failed was stopped on the way out; the
    // operator asked for exactly that, so say so rather than quote PostgreSQL's last words.
    if (early === undefined) throw error
    io.out(`sluice: ${early}: stopped before the start-up finished`)
    return
  } finally {
    process.removeListener('SIGTERM', keepSignal)
    process.removeListener('SIGINT', keepSignal)
  }
  // The handlers `serve` installed take it from here.
  if (early !== undefined) process.emit(early as NodeJS.Signals, early as NodeJS.Signals)
}

/** Reads the config file again, with the environment's overrides (SIGHUP, /admin/reload). */
function reloader(source: DatabaseSource, env: Env): (() => Promise<Config>) | undefined {
  const file = source.configFile
  return file ? async () => applyEnv(await loadConfigFile(file, env), env) : undefined
}

/** Starts the gateway and installs its signal handlers; resolves once it listens. */
async function serve(request: ServeRequest, io: CliIo, env: Env): Promise<void> {
  const debug =
    envValue(env, 'SLUICE_DEBUG') === undefined
      ? undefined
      : (line: string) => process.stderr.write(line)
  const source = await openDatabaseSource(request, env, {
    say: (line) => io.out(`sluice: ${line}`),
    debug,
  })
  const { config, configFile, embedded, printToken } = source
  const workers = workerCount(config)
  const problems = workerProblems(config, workers)
  if (problems.length > 0) {
    await embedded?.stop()
    throw new ConfigError(problems)
  }
  let address: string
  try {
    address = await nodeAddress(config)
  } catch (error) {
    await embedded?.stop()
    throw new ConfigError([errorMessage(error)])
  }
  const logger = createLogger(config.server.log)
  const setup = { source, address, logger, loadConfig: reloader(source, env), io }
  const serving: Serving =
    workers > 1 ? await servePrimary({ ...setup, workers }) : await serveAlone(setup)
  const { stop, baseUrl, pgAddress } = serving

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
  const base = baseUrl
  const facts = {
    baseUrl: base,
    configFile,
    embedded,
    workers,
    address,
    openFiles: openFilesLimit(),
  }
  for (const line of describeStartup(config, facts)) io.out(`sluice: ${line}`)
  if (printToken) {
    io.out(
      `sluice: token of tenant "default"${embedded ? `, kept in ${embedded.folder}/token` : ''} (set SLUICE_TOKEN to choose one): ${printToken}`,
    )
    io.out(
      `sluice: try: curl -s ${base}/v1/query -H 'Authorization: Bearer ${printToken}' -d '{"sql":"select now() as t"}'`,
    )
  }
  if (pgAddress !== undefined) io.out(`sluice: PostgreSQL protocol on ${pgAddress} (docs/wire.md)`)
  io.out(`sluice: listening on ${base}`)
}
