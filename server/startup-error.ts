/**
 * A failure to start that the operator can act on: one line saying what is wrong and what
 * to do, with a stable code. The CLI prints the line and exits 1; `detail` (a log, a stack)
 * is printed only with SLUICE_DEBUG, and never instead of the line.
 */

/** Why the gateway could not start. */
export type StartupErrorCode =
  /** Another Sluice runs on the embedded data folder. */
  | 'DATA_FOLDER_IN_USE'
  /** A PostgreSQL left by a Sluice that was killed still runs on the data folder. */
  | 'POSTGRES_LEFT_RUNNING'
  /** The embedded PostgreSQL's binaries are not installed (or not made for this machine). */
  | 'EMBEDDED_NOT_INSTALLED'
  /** The embedded PostgreSQL did not start; the message quotes its own reason. */
  | 'EMBEDDED_FAILED'
  /** The embedded database is not running (for `embedded-url`). */
  | 'EMBEDDED_NOT_RUNNING'
  /** The gateway's address cannot be listened on. */
  | 'CANNOT_LISTEN'
  /** A worker process (`server.workers`) could not start; the message says why. */
  | 'WORKER_FAILED'

/** A failure to start, with a message a person can act on. */
export class StartupError extends Error {
  readonly code: StartupErrorCode
  /** More than the message: PostgreSQL's log, a stack. Shown with SLUICE_DEBUG. */
  readonly detail: string | undefined

  constructor(code: StartupErrorCode, message: string, detail?: string) {
    super(message)
    this.name = 'StartupError'
    this.code = code
    this.detail = detail
  }
}

/** Whether `error` is a {@link StartupError}, even from another copy of this module. */
export function isStartupError(error: unknown): error is StartupError {
  return error instanceof Error && error.name === 'StartupError' && 'code' in error
}
