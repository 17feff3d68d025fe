/**
 * What the ways of serving share (one process, or a primary with its workers): what they
 * give `serve` back, the drain's announcement and its watchdog, the bug reporter, and
 * errors cleared of the config's secrets.
 */
import type { Config } from '../config/schema.js'
import { ConfigError } from '../config/load.js'
import { redactText } from '../config/redact.js'
import type { Logger } from '../log/logger.js'
import { errorMessage } from '../log/pool-log.js'
import { isStartupError } from '../startup-error.js'
import type { DatabaseSource } from './database-source.js'
import type { CliIo } from './io.js'

/** A serving gateway, as `serve` drives it: how to stop it, and where it listens. */
export interface Serving {
  /** Drains and exits the process (0 when the drain finished). */
  stop(signal: string): Promise<void>
  baseUrl: string
  /** `host:port` of the PostgreSQL protocol listener, with `server.pgPort`. */
  pgAddress: string | undefined
}

/** What every way of serving needs. */
export interface ServeSetup {
  source: DatabaseSource
  /** This node's address, as peers reach it. */
  address: string
  logger: Logger
  /** Reads the config file again; absent without one. */
  loadConfig: (() => Promise<Config>) | undefined
  io: CliIo
}

/** The base URL of an HTTP listener. */
export function baseUrlOf(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`
}

/** The drain's announcement. */
export function drainingLine(signal: string, graceMs: number): string {
  return `sluice: ${signal}: draining for ${graceMs} ms (/readyz answers 503, new work SHUTTING_DOWN, open transactions may finish; a second signal exits now)`
}

/**
 * The stop every signal goes through: `drain` announces and drains (the listeners keep
 * accepting for the grace), then the process exits 0. A second signal, or a drain still
 * unfinished 15 s after its grace, exits 1 at once (`now` runs first).
 */
export function stopper(
  io: CliIo,
  logger: Logger,
  graceMs: () => number,
  drain: (signal: string) => Promise<void>,
  now: () => void = () => {},
): (signal: string) => Promise<void> {
  let stopping = false
  return async (signal) => {
    if (stopping) {
      // A second signal means "now": the operator will not wait for the drain.
      io.err(`sluice: ${signal} again: exiting without finishing the drain`)
      now()
      process.exit(1)
    }
    stopping = true
    // Should a connection never come back (a bug), do not hang for ever.
    setTimeout(() => {
      io.err('sluice: the drain did not finish in time: exiting with connections still open')
      now()
      process.exit(1)
    }, graceMs() + 15_000).unref()
    await drain(signal)
    io.out('sluice: stopped')
    await new Promise<void>((resolve) => logger.flush(() => resolve()))
    process.exit(0)
  }
}

/** The bug reporter of a serving process: a log line with the stack, secrets removed. */
export function logBugs(logger: Logger): (error: unknown, requestId: string | undefined) => void {
  return (error, requestId) =>
    logger.error(
      {
        requestId,
        error: errorMessage(error),
        stack: error instanceof Error && error.stack ? redactText(error.stack) : undefined,
      },
      'internal error (a bug: please report it)',
    )
}

/** An unexpected error, its message and stack cleared of the config's secrets. */
export function redacted(error: unknown, secrets: string[]): unknown {
  if (!(error instanceof Error) || error instanceof ConfigError || isStartupError(error))
    return error
  const clean = new Error(redactText(error.message, secrets))
  if (error.stack !== undefined) clean.stack = redactText(error.stack, secrets)
  return clean
}
