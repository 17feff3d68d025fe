/**
 * The record of each request, for logs and metrics: one JSON line per request (request id,
 * tenant, route, status, duration, error code), the per-route request counters, and the
 * statement scope through which each statement's duration reaches the statement histogram,
 * the optional statement log and the slow-statement log. Every entry point (the HTTP
 * middleware in server/http/middleware/request-log.ts, the direct path) starts one per
 * request.
 */
import { createHash } from 'node:crypto'
import type { LogConfig } from '../config/schema.js'
import type { Metrics } from '../metrics/metrics.js'
import { errorMessage } from './pool-log.js'
import type { Logger } from './logger.js'
import type { StatementReport, StatementScope } from './statement-scope.js'

/** Options of {@link createRequestRecorder}. */
export interface RequestLogOptions {
  logger: Logger
  /** The current log settings (a reload may change them). */
  settings: () => LogConfig
  metrics?: Metrics
}

// Probes and scrapes come every few seconds: log them only at debug, unless they fail. So
// do the transactions of PostgreSQL protocol sessions (server/wire/), whose sessions log at
// info: a line per transaction would cost pgbench-rate clients a write each.
const QUIET_ROUTES = new Set(['/healthz', '/readyz', '/metrics', 'pg-tcp', 'pg-websocket'])

/** A short, stable id of a SQL text: groups slow statements without logging their text. */
export function sqlHash(sql: string): string {
  return createHash('sha256').update(sql).digest('hex').slice(0, 16)
}

function statementFields(report: StatementReport, settings: LogConfig): Record<string, unknown> {
  const fields: Record<string, unknown> = { sqlHash: sqlHash(report.sql) }
  if (settings.statements !== 'none') fields.sql = report.sql
  if (settings.statements === 'text-and-params') fields.params = report.params ?? []
  return fields
}

/** How a finished request ended, for its log line and metrics. */
export interface RequestOutcome {
  method: string
  /** The matched route pattern, or `unmatched`. */
  route: string
  path: string
  status: number
  /** The error code of an error response, or '' for a success. */
  code: string
  /** The tenant the token chose, or '' before authentication. */
  tenant: string
}

/** One request being served: its statement scope, and how to finish it. */
export interface RequestRecord {
  readonly scope: StatementScope
  /** Writes the request's line and metrics; call once, when the response is decided. */
  finish(outcome: RequestOutcome): void
}

/** Starts the record of each request; shared by the Hono app and the direct path. */
export interface RequestRecorder {
  start(requestId: string): RequestRecord
}

/** Builds the request recorder: logs, metrics and the statement scope of each request. */
export function createRequestRecorder(options: RequestLogOptions): RequestRecorder {
  const { logger, metrics } = options
  // The request line is built from fixed fields that hold no secret, so it skips the
  // logger's redaction pass (a wildcard walk over every line, the costliest part of it).
  let lines = logger.child({}, { redact: [] })
  return {
    start(requestId) {
      const started = performance.now()
      let statements = 0
      let statementMs = 0
      metrics?.inFlight.inc()
      const scope: StatementScope = {
        statement(report: StatementReport) {
          statements++
          statementMs += report.ms
          const ok = report.error === undefined
          metrics?.statement({ tenant: report.tenant, seconds: report.ms / 1000, ok })
          const settings = options.settings()
          const slow = settings.slowStatementMs > 0 && report.ms >= settings.slowStatementMs
          if (!slow && settings.statements === 'none') return
          const fields = {
            requestId,
            tenant: report.tenant,
            durationMs: Math.round(report.ms * 10) / 10,
            ...(ok
              ? { rowCount: report.rowCount ?? null }
              : { sqlstate: sqlstateOf(report.error) }),
            // PostgreSQL's messages may quote a parameter's value: only with the SQL text.
            ...(!ok && settings.statements !== 'none' ? { error: errorMessage(report.error) } : {}),
            ...statementFields(report, settings),
          }
          if (slow) logger.warn(fields, 'slow statement')
          else logger.debug(fields, 'statement')
        },
      }
      return {
        scope,
        finish({ method, route, path, status, code, tenant }) {
          metrics?.inFlight.dec()
          const ms = performance.now() - started
          metrics?.request({ route, method, status, code, tenant, seconds: ms / 1000 })
          // A reload may change the level; a child keeps the one it was made with.
          if (lines.level !== logger.level) lines = logger.child({}, { redact: [] })
          const level =
            code === 'INTERNAL' || (status >= 500 && !code)
              ? 'error'
              : status >= 500
                ? 'warn'
                : QUIET_ROUTES.has(route) && status < 400
                  ? 'debug'
                  : 'info'
          // A wire transaction's line is at debug: not even built at the usual level.
          if (!lines.isLevelEnabled(level)) return
          const line = {
            requestId,
            method,
            route,
            path,
            status,
            durationMs: Math.round(ms * 10) / 10,
            ...(tenant ? { tenant } : {}),
            ...(code ? { errorCode: code } : {}),
            ...(statements > 0
              ? { statements, statementMs: Math.round(statementMs * 10) / 10 }
              : {}),
          }
          lines[level](line, level === 'error' || level === 'warn' ? 'request failed' : 'request')
        },
      }
    },
  }
}

function sqlstateOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined
}
