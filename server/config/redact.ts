/**
 * Secrets never print: connection strings lose their password, tokens and passwords
 * become "[redacted]", wherever a config value or an error is shown. A password may hold
 * `@` or `:` unencoded, a URL may come without its scheme, and a secret may appear
 * percent-encoded or decoded: every one of those spellings is caught.
 */
import type { Config } from './schema.js'
import { parseConnectionUrl } from './connection-url.js'

const SECRET_KEYS = new Set([
  'password',
  'token',
  'sha256',
  'adminToken',
  'ca',
  'secret',
  'cacheSecret',
])

// Keys whose whole value is secret when it is a string, or each string of it when it is a
// list: a token list written as plain strings, a cluster written as its secret alone.
const SECRET_LISTS = new Set(['tokens', 'cluster'])

/** What stands in for a secret. */
export const REDACTED = '[redacted]'

// A query parameter: libpq's ?password=… is refused in a config, yet quoted by the message
// that refuses it, its name perhaps percent-encoded.
const PARAMETER = /([?&])([^=&#\s"'`]*)=([^&#\s"'`]*)/g

function withoutPasswordParameter(text: string): string {
  return text.replace(PARAMETER, (whole, separator: string, name: string) => {
    let decoded = name
    try {
      decoded = decodeURIComponent(name)
    } catch {
      // Not percent-encoded: read as it is.
    }
    return decoded.toLowerCase() === 'password' ? `${separator}${name}=${REDACTED}` : whole
  })
}

/**
 * `postgres://user:secret@host/db` → `postgres://user:[redacted]@host/db`, with or without
 * the scheme. The password runs from the first `:` of the user part to the last `@`, since
 * an `@` inside a password is often left unencoded. A `?password=` parameter loses its value.
 */
export function redactUrl(url: string): string {
  const text = withoutPasswordParameter(url)
  const at = text.lastIndexOf('@')
  if (at < 0) return text
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(text)?.[0] ?? ''
  const colon = text.indexOf(':', scheme.length)
  if (colon < 0 || colon > at) return text
  return `${text.slice(0, colon)}:${REDACTED}${text.slice(at)}`
}

/** The value to show for a config key at `path`. */
export function redactValue(path: readonly PropertyKey[], value: unknown): unknown {
  const key = path.at(-1)
  if (typeof key === 'string' && SECRET_KEYS.has(key) && value !== undefined) return REDACTED
  const list = typeof key === 'number' ? path.at(-2) : key
  if (typeof value === 'string' && typeof list === 'string' && SECRET_LISTS.has(list))
    return REDACTED
  if (typeof value === 'string') return redactUrl(value)
  if (Array.isArray(value)) return value.map((item, i) => redactValue([...path, i], item))
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, redactValue([...path, k], v)]),
    )
  }
  return value
}

// user:password@ inside a longer text: a run without spaces, up to its last @.
const URL_IN_TEXT = /([a-z][a-z0-9+.-]*:\/\/)?([^\s:/@"'`()<>[\]{}]*):(?!\/\/)\S*@/gi

// Shorter secrets would blank out ordinary words; URLs still lose them by their shape.
const MIN_SPELLING = 4

/**
 * A secret as it may appear: as is, percent-encoded (encodeURIComponent's way and the URL
 * standard's, which leaves a % alone) and percent-decoded.
 */
export function spellingsOf(secret: string): string[] {
  const url = new URL('postgres://host')
  url.password = secret
  const spellings = new Set([secret, encodeURIComponent(secret), url.password])
  try {
    spellings.add(decodeURIComponent(secret))
  } catch {
    // Not percent-encoded text: the other spellings stand.
  }
  return [...spellings].filter((s) => s.length >= MIN_SPELLING)
}

/**
 * Removes every secret from a text that might hold a connection string: the password of
 * any `user:password@` in it, and each of `secrets` in every spelling.
 */
export function redactText(text: string, secrets: readonly string[] = []): string {
  let out = withoutPasswordParameter(text.replace(URL_IN_TEXT, `$1$2:${REDACTED}@`))
  const spellings = secrets.flatMap(spellingsOf).sort((a, b) => b.length - a.length)
  for (const spelling of spellings) out = out.split(spelling).join(REDACTED)
  return out
}

/** Every secret a config holds: tokens, the admin and peer secrets, the databases' passwords. */
export function secretsOf(config: Config): string[] {
  const secrets: string[] = []
  if (config.server.adminToken !== undefined) secrets.push(config.server.adminToken)
  if (config.server.cluster !== undefined) secrets.push(config.server.cluster.secret)
  if (config.server.cacheSecret !== undefined) secrets.push(config.server.cacheSecret)
  for (const tenant of Object.values(config.tenants)) {
    for (const entry of tenant.tokens) if ('token' in entry) secrets.push(entry.token)
    const { password, url } = tenant.connection
    if (password) secrets.push(password)
    const parsed = url === undefined ? undefined : parseConnectionUrl(url, { hostOptional: true })
    if (parsed?.ok && parsed.url.password) secrets.push(parsed.url.password)
  }
  return secrets
}
