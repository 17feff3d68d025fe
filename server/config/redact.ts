/**
 * Secrets never print: connection strings lose their password, tokens and passwords
 * become "[redacted]", wherever a config value is shown.
 */

const SECRET_KEYS = new Set(['password', 'token', 'sha256', 'adminToken', 'ca'])

/** `postgres://user:secret@host/db` → `postgres://user:[redacted]@host/db`. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@]*@/i, '$1[redacted]@')
}

/** The value to show for a config key at `path`. */
export function redactValue(path: readonly PropertyKey[], value: unknown): unknown {
  const key = path.at(-1)
  if (typeof key === 'string' && SECRET_KEYS.has(key) && value !== undefined) return '[redacted]'
  if (typeof value === 'string') return redactUrl(value)
  if (Array.isArray(value)) return value.map((item, i) => redactValue([...path, i], item))
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, redactValue([...path, k], v)]),
    )
  }
  return value
}

/** Removes every secret from a text that might hold a connection string. */
export function redactText(text: string, secrets: readonly string[] = []): string {
  let out = text.replace(/([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)[^@\s]*@/gi, '$1[redacted]@')
  for (const secret of secrets) if (secret.length > 0) out = out.split(secret).join('[redacted]')
  return out
}
