/**
 * What a request hears when the connection it needed could not be opened. PostgreSQL
 * refusing the gateway's own login (the role's password changed, the role made NOLOGIN or
 * dropped, the database dropped) is told apart from a database that cannot be reached: the
 * fix is the operator's, in the gateway's config, not a network's. Either way nothing ran,
 * so DB_UNAVAILABLE stays retryable. Neither message names the role, the password or the
 * URL; PostgreSQL's own reason goes to the operator's log (the pool's `connect-failed` event).
 */
import { SluiceError, isSluiceError } from '../../src/errors.js'
import { databaseUnreachable } from '../errors.js'

/** PostgreSQL's invalid_catalog_name: the database does not exist (or no longer does). */
const NO_SUCH_DATABASE = '3D000'

/**
 * Whether PostgreSQL refused the login itself: SQLSTATE class 28 (invalid authorization:
 * a wrong password, a role that may not log in or does not exist, pg_hba.conf), or 3D000.
 */
export function isLoginRefused(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && (code.startsWith('28') || code === NO_SUCH_DATABASE)
}

/** The error a request gets for a connection that could not be opened for it. */
export function connectFailure(error: unknown): SluiceError {
  // The gateway's own refusal (a privileged role, say) says why already.
  if (isSluiceError(error)) return error
  if (!isLoginRefused(error)) return databaseUnreachable(error)
  return new SluiceError(
    'DB_UNAVAILABLE',
    "the database refused the gateway's login (the gateway's log says why)",
    { retryable: true, cause: error },
  )
}
