/**
 * Pool events as log lines, the way psycopg.pool's logger reports them: connections opened
 * and recycled at info, losses, failed connects and failed health checks at warn.
 */
import { isSluiceError } from '../../src/errors.js'
import { redactText } from '../config/redact.js'
import type { PoolEvent } from '../pool/pool-event.js'
import type { Logger } from './logger.js'

/** The message of an error, with any connection string's password and each of `secrets` removed. */
export function errorMessage(error: unknown, secrets: readonly string[] = []): string {
  return redactText(error instanceof Error ? error.message : String(error), secrets)
}

/**
 * Logs one pool event of `tenant`. The driver's message of a failed connect may quote the
 * password (a server or proxy that echoes what it was sent), so it loses `secrets()` too: read
 * only then, since every request has pool events.
 */
export function logPoolEvent(
  logger: Logger,
  tenant: string,
  event: PoolEvent,
  secrets: () => readonly string[] = () => [],
): void {
  switch (event.type) {
    case 'opened':
      logger.info({ tenant, pid: event.pid, connectMs: event.ms }, 'connection opened')
      break
    case 'recycled':
      logger.info({ tenant, pid: event.pid, reason: event.reason }, 'connection recycled')
      break
    case 'connect-failed':
      if (isSluiceError(event.error) && event.error.code === 'FORBIDDEN')
        logger.error({ tenant, error: event.error.message }, 'refusing to serve the tenant')
      else
        logger.warn(
          { tenant, error: errorMessage(event.error, secrets()) },
          'cannot connect to the database',
        )
      break
    case 'lost':
      logger.warn({ tenant, pid: event.pid }, 'connection lost')
      break
    case 'health-check-failed':
      logger.warn({ tenant, pid: event.pid }, 'connection failed its health check')
      break
    case 'held-too-long':
      logger.warn(
        { tenant, pid: event.pid, heldMs: event.ms, holder: event.holder },
        'connection held for a long time',
      )
      break
    case 'paused':
      logger.warn({ tenant }, 'tenant paused: new requests wait')
      break
    case 'resumed':
      logger.info({ tenant }, 'tenant resumed')
      break
    case 'acquired':
    case 'released':
      // Every request has them; the histograms count them.
      break
  }
}
