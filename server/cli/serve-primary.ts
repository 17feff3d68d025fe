/**
 * `sluice serve` as the primary of several workers (`server.workers` above 1): it forks
 * them (server/cluster/primary.ts), says it listens once every one of them does, reloads
 * them all on SIGHUP and drains them all on SIGTERM/SIGINT, exiting 0 once each worker has
 * drained and exited 0. The embedded PostgreSQL, when it runs, is the primary's.
 */
import { Primary } from '../cluster/primary.js'
import { ConfigError } from '../config/load.js'
import { errorMessage } from '../log/pool-log.js'
import { StartupError } from '../startup-error.js'
import { baseUrlOf, drainingLine, stopper, type ServeSetup, type Serving } from './serving.js'

/** Forks and supervises the workers; resolves once all of them listen. */
export async function servePrimary(setup: ServeSetup & { workers: number }): Promise<Serving> {
  const { address, logger, loadConfig, io, workers } = setup
  const { config, embedded } = setup.source
  const primary = new Primary({ config, workers, address, loadConfig, logger })
  try {
    await primary.start()
  } catch (error) {
    await embedded?.stop()
    throw new StartupError('WORKER_FAILED', errorMessage(error))
  }
  process.on('SIGHUP', function reloadOnHangup() {
    primary.reload().then(
      (report) =>
        io.out(`sluice: config reloaded in ${workers} workers: ${JSON.stringify(report)}`),
      (error: unknown) => {
        const problems = error instanceof ConfigError ? error.problems : [errorMessage(error)]
        for (const problem of problems) io.err(`sluice: reload refused: ${problem}`)
      },
    )
  })
  let graceMs = config.server.drainGraceMs
  const stop = stopper(
    io,
    logger,
    () => graceMs,
    async (signal) => {
      const { exited } = await primary.drain()
      io.out(drainingLine(signal, graceMs))
      const code = await exited
      await embedded?.stop()
      if (code !== 0) {
        io.err('sluice: a worker did not finish its drain cleanly (see its log lines)')
        process.exit(1)
      }
    },
    () => primary.kill(),
  )
  const reloadGrace = () => (graceMs = primary.config.server.drainGraceMs)
  const { host } = config.server
  const { port, pgPort } = primary.ports
  return {
    stop: async (signal) => {
      reloadGrace()
      await stop(signal)
    },
    baseUrl: baseUrlOf(host, port),
    pgAddress: pgPort === undefined ? undefined : `${host}:${pgPort}`,
  }
}
