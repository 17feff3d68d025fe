/**
 * The gateway's logger: pino, one JSON object per line, ISO timestamps, level names, and
 * a redaction list as a second fence (the first is never passing secrets to it at all).
 */
import { pino, type DestinationStream, type Logger } from 'pino'
import type { LogConfig } from '../config/schema.js'

/** The logger type the gateway passes around. */
export type { Logger }

// Keys that may hold a secret wherever they appear in a log object.
const REDACT = [
  'password',
  'token',
  'adminToken',
  'authorization',
  'url',
  'connectionString',
  '*.password',
  '*.token',
  '*.adminToken',
  '*.authorization',
  '*.url',
  '*.connectionString',
]

/** Builds a logger writing to `destination` (stdout by default). */
export function createLogger(
  config: Pick<LogConfig, 'level'>,
  destination?: DestinationStream,
): Logger {
  return pino(
    {
      level: config.level,
      base: { service: 'sluice' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT, censor: '[redacted]' },
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  )
}

/** A logger that drops everything (the default of in-process gateways). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' })
}
