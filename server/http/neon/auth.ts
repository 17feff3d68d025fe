/**
 * Who a Neon request is: the Sluice token travels as `Authorization: Bearer <token>` (the
 * client's `authToken` option) or as the password of the `Neon-Connection-String` header.
 * As everywhere, the token alone decides the tenant; user, host and database are ignored.
 */
import type { Context } from 'hono'
import { SluiceError } from '../../../src/errors.js'
import { bearerToken } from '../../tenants/tokens.js'
import type { Credentials } from '../middleware/admission.js'
import { NEON_HEADERS } from './protocol.js'

const MISSING =
  'send the Sluice token as the password of the connection string ' +
  '(postgresql://sluice:<token>@<gateway-host>/<any-db>) or as "Authorization: Bearer <token>"'

/** The token in a connection string's password, percent-decoded; `undefined` when none. */
export function passwordOf(connectionString: string): string | undefined {
  let url: URL
  try {
    url = new URL(connectionString)
  } catch {
    // Never echo the string: it carries the token.
    throw new SluiceError('UNAUTHORIZED', `${NEON_HEADERS.connectionString} is not a valid URL`)
  }
  if (url.password === '') return undefined
  try {
    return decodeURIComponent(url.password)
  } catch {
    return url.password
  }
}

/** The token of a `/sql` request: the Bearer header when sent, else the connection string's password. */
export function neonCredentials(c: Context): Credentials {
  const authorization = c.req.header('Authorization')
  if (authorization !== undefined) return { token: bearerToken(authorization) }
  const connectionString = c.req.header(NEON_HEADERS.connectionString)
  const token = connectionString === undefined ? undefined : passwordOf(connectionString)
  return { token, howToAuthenticate: MISSING }
}
