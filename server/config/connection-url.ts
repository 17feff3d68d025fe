/**
 * Connection URLs (`postgres://user:password@host:5432/database?sslmode=verify-full`), read
 * and checked once, with one line per problem that says what to write instead. The driver's
 * own parser (pg-connection-string) accepts almost any text, fills in defaults for what it
 * cannot read and prints a warning of its own for some `sslmode` values, so Sluice reads the
 * URL itself and hands pg plain fields. No message quotes the user name or the password.
 */

/** TLS modes, as libpq names them. `prefer` and `allow` need a fallback the driver lacks. */
export const SSL_MODES = ['disable', 'require', 'verify-ca', 'verify-full'] as const

/** One of {@link SSL_MODES}. */
export type SslMode = (typeof SSL_MODES)[number]

/** The parts of a connection URL; absent parts take the connection's defaults. */
export interface ConnectionUrl {
  user?: string
  password?: string
  host?: string
  port?: number
  database?: string
  sslmode?: SslMode
}

/** A URL read into its parts, or why it cannot be. */
export type ParsedConnectionUrl =
  { ok: true; url: ConnectionUrl } | { ok: false; problems: string[] }

/** Options of {@link parseConnectionUrl}. */
export interface ParseUrlOptions {
  /**
   * The host may be left out (`postgres://user@/db`), because another setting gives it.
   * @default false
   */
  hostOptional?: boolean
}

const EXAMPLE = 'postgres://user:password@host:5432/database'
const ENCODE_HINT =
  'percent-encode those characters in the user name and password (/ as %2F, ? as %3F, # as %23, @ as %40, % as %25)'

// Query parameters libpq knows and where their Sluice equivalent lives.
const INSTEAD: Record<string, string> = {
  sslrootcert: 'connection.caFile',
  sslcert: 'nothing: client certificates are not supported',
  sslkey: 'nothing: client certificates are not supported',
  connect_timeout: 'connection.connectTimeoutMs',
  application_name: 'session.applicationName',
  options: "session (timeZone) or the role's settings (ALTER ROLE … SET …)",
  host: 'the host part of the URL, or connection.host',
  port: 'the port part of the URL, or connection.port',
  user: 'the user part of the URL, or connection.user',
  password: 'the password part of the URL, or connection.password',
  dbname: 'the path of the URL, or connection.database',
}

/** Why `value` is not an sslmode Sluice accepts, or undefined when it is one. */
export function sslmodeProblem(value: string): string | undefined {
  if ((SSL_MODES as readonly string[]).includes(value)) return undefined
  if (value === 'prefer' || value === 'allow') {
    return `sslmode ${value} is refused: it means "TLS or plain text, whichever works", and the pg driver cannot fall back from one to the other, so it would fail for ever against some servers: use require or verify-full for TLS, disable for plain text`
  }
  return `sslmode ${JSON.stringify(value)} is not one of ${SSL_MODES.join(', ')}`
}

function decode(part: string, what: string, problems: string[]): string | undefined {
  try {
    return decodeURIComponent(part)
  } catch {
    problems.push(`the ${what} has a % that does not start a percent-encoding (write % as %25)`)
    return undefined
  }
}

// The authority (user:password@host:port) as the URL standard cuts it: up to the first /, ? or #.
function authorityOf(afterScheme: string): { authority: string; rest: string } {
  const end = afterScheme.search(/[/?#]/)
  return end < 0
    ? { authority: afterScheme, rest: '' }
    : { authority: afterScheme.slice(0, end), rest: afterScheme.slice(end) }
}

function hostAndPort(
  hostPort: string,
  options: ParseUrlOptions,
  problems: string[],
): { host: string; port: number | undefined } {
  const bracketed = /^\[[^\]]*\]/.exec(hostPort)?.[0]
  const colon = hostPort.indexOf(':', bracketed?.length ?? 0)
  const host = colon < 0 ? hostPort : hostPort.slice(0, colon)
  const port = colon < 0 ? '' : hostPort.slice(colon + 1)
  if (host === '' && !options.hostOptional) problems.push(`has no host: write ${EXAMPLE}`)
  if (host.includes(',') || port.includes(',')) {
    problems.push(
      'lists several hosts: Sluice connects to one (give the address of a proxy or a load balancer)',
    )
    return { host, port: undefined }
  }
  if (port === '') return { host, port: undefined }
  if (!/^\d+$/.test(port)) problems.push('has a port that is not a number: write host:5432')
  else if (Number(port) < 1 || Number(port) > 65535)
    problems.push(`has port ${Number(port)}, out of range: use 1 to 65535 (PostgreSQL's is 5432)`)
  else return { host, port: Number(port) }
  return { host, port: undefined }
}

function checkQuery(params: URLSearchParams, url: ConnectionUrl, problems: string[]): void {
  for (const [name, value] of params) {
    if (name === 'sslmode') {
      const problem = sslmodeProblem(value)
      if (problem === undefined) url.sslmode = value as SslMode
      else problems.push(problem)
      continue
    }
    const instead = INSTEAD[name]
    problems.push(
      instead === undefined
        ? `has the parameter ?${name}=, which Sluice does not use: remove it (the one parameter read is sslmode)`
        : `has the parameter ?${name}=, which Sluice does not read from a URL: use ${instead}`,
    )
  }
}

/**
 * Reads a `postgres://` or `postgresql://` URL: scheme, user, password, host, port (1 to
 * 65535), database and `sslmode`. Every problem is listed, each a phrase that follows the
 * URL's name: "DATABASE_URL (…): has port 99999, out of range: use 1 to 65535".
 */
export function parseConnectionUrl(
  text: string,
  options: ParseUrlOptions = {},
): ParsedConnectionUrl {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text)
  if (scheme === null) {
    return { ok: false, problems: [`does not start with postgres:// (write ${EXAMPLE})`] }
  }
  const name = scheme[1]!.toLowerCase()
  if (name !== 'postgres' && name !== 'postgresql') {
    return {
      ok: false,
      problems: [
        `uses the scheme ${name}://: Sluice speaks to PostgreSQL only (postgres:// or postgresql://)`,
      ],
    }
  }
  const problems: string[] = []
  if (/\s/.test(text)) problems.push('contains spaces: percent-encode them (%20) or remove them')
  const { authority, rest } = authorityOf(text.slice(scheme[0].length))
  const at = authority.lastIndexOf('@')
  if (rest.includes('@')) {
    // An @ after the host: a /, ? or # in the password cut the URL short.
    problems.push(`has an @ after the host: ${ENCODE_HINT}`)
    return { ok: false, problems }
  }
  const url: ConnectionUrl = {}
  if (at >= 0) {
    const userinfo = authority.slice(0, at)
    const colon = userinfo.indexOf(':')
    const user = decode(colon < 0 ? userinfo : userinfo.slice(0, colon), 'user name', problems)
    if (user) url.user = user
    const password = colon < 0 ? '' : decode(userinfo.slice(colon + 1), 'password', problems)
    if (password) url.password = password
  }
  const { host, port } = hostAndPort(authority.slice(at + 1), options, problems)
  if (host !== '') url.host = decode(host.replace(/^\[(.*)\]$/, '$1'), 'host', problems) ?? host
  if (port !== undefined) url.port = port
  const hash = rest.indexOf('#')
  if (hash >= 0) problems.push(`has a # part: remove it, or ${ENCODE_HINT}`)
  const beforeHash = hash < 0 ? rest : rest.slice(0, hash)
  const question = beforeHash.indexOf('?')
  const path = (question < 0 ? beforeHash : beforeHash.slice(0, question)).replace(/^\//, '')
  if (path.includes('/')) {
    problems.push(`has a path with several parts: write the database name alone (${EXAMPLE})`)
  } else if (path !== '') {
    const database = decode(path, 'database name', problems)
    if (database !== undefined && new TextEncoder().encode(database).length > 63)
      problems.push('names a database longer than 63 bytes, the most PostgreSQL allows')
    else if (database) url.database = database
  }
  if (question >= 0) checkQuery(new URLSearchParams(beforeHash.slice(question + 1)), url, problems)
  if (problems.length === 0 && !URL.canParse(text))
    problems.push(`is not a valid URL: check the host, and ${ENCODE_HINT}`)
  return problems.length > 0 ? { ok: false, problems } : { ok: true, url }
}
