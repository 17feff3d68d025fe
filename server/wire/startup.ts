/**
 * The first packet of a connection (startup, SSLRequest, GSSENCRequest or CancelRequest)
 * and what the gateway does with a client's startup parameters. Backends are shared, so
 * a client's settings cannot be given at connect time: `user` and `database` are ignored
 * (the token decides the tenant), `client_encoding` is always UTF8, `application_name` is
 * the client's own (in logs and ParameterStatus), and a few settings drivers send
 * (`DateStyle`, `TimeZone`, `search_path`, `statement_timeout`…, also as `options=-c …`) are
 * applied to each backend the session borrows. Any other setting is refused at connect time.
 */
import { BodyReader, MalformedMessage, STARTUP_CODES, type ErrorFields } from './messages.js'

/** A connection's first packet. */
export type StartupPacket =
  | { kind: 'ssl' }
  | { kind: 'gssenc' }
  | { kind: 'cancel'; processId: number; secretKey: number }
  | { kind: 'startup'; minor: number; parameters: Map<string, string> }

/** Reads a first packet's body (after its length). */
export function readStartupPacket(body: Buffer): StartupPacket {
  const reader = new BodyReader(body)
  const code = reader.int32()
  if (code === STARTUP_CODES.sslRequest) return { kind: 'ssl' }
  if (code === STARTUP_CODES.gssEncRequest) return { kind: 'gssenc' }
  if (code === STARTUP_CODES.cancelRequest) {
    return { kind: 'cancel', processId: reader.int32(), secretKey: reader.int32() }
  }
  if (code >>> 16 !== 3)
    throw new MalformedMessage(`unsupported frontend protocol ${code >>> 16}.${code & 0xffff}`)
  const parameters = new Map<string, string>()
  for (;;) {
    const name = reader.cstring()
    if (name === '') break
    parameters.set(name, reader.cstring())
  }
  return { kind: 'startup', minor: code & 0xffff, parameters }
}

/**
 * Settings a client may give at connect time, applied to each backend it borrows (by
 * their names in pg_settings, which are lower case).
 */
const APPLIED = new Set([
  'datestyle',
  'timezone',
  'intervalstyle',
  'extra_float_digits',
  'search_path',
  'statement_timeout',
  'lock_timeout',
  'bytea_output',
])

// Accepted and not applied: the token decides the tenant; the encoding is always UTF8.
const IGNORED = new Set(['user', 'database', 'client_encoding', 'application_name'])

/** What the gateway keeps of a client's startup parameters. */
export interface ClientParameters {
  user: string
  database: string
  applicationName: string
  /** Settings to apply to each borrowed backend, by pg_settings name. */
  settings: Map<string, string>
  /** Protocol options (`_pq_.*`) the gateway does not support (reported, then ignored). */
  unsupportedOptions: string[]
}

// libpq's `options`: words split on spaces, a backslash escapes the next character.
function optionWords(options: string): string[] {
  const words: string[] = []
  let word = ''
  let any = false
  for (let i = 0; i < options.length; i++) {
    const c = options[i]!
    if (c === '\\' && i + 1 < options.length) {
      word += options[++i]
      any = true
    } else if (c === ' ' || c === '\t') {
      if (any) words.push(word)
      word = ''
      any = false
    } else {
      word += c
      any = true
    }
  }
  if (any) words.push(word)
  return words
}

function refused(name: string): ErrorFields {
  return {
    severity: 'FATAL',
    code: '0A000',
    message: `startup parameter "${name}" is not supported through Sluice`,
    hint: `Backends are pooled per transaction: set it with SET LOCAL inside a transaction. Settings applied for you: ${[...APPLIED].join(', ')}.`,
  }
}

function addSetting(settings: Map<string, string>, name: string, value: string): boolean {
  const key = name.toLowerCase()
  if (!APPLIED.has(key)) return false
  settings.set(key, value)
  return true
}

/** Sorts a client's startup parameters, or says which one is refused. */
export function readClientParameters(
  parameters: ReadonlyMap<string, string>,
): ClientParameters | { refused: ErrorFields } {
  const client: ClientParameters = {
    user: parameters.get('user') ?? '',
    database: parameters.get('database') ?? parameters.get('user') ?? '',
    applicationName: parameters.get('application_name') ?? '',
    settings: new Map(),
    unsupportedOptions: [],
  }
  for (const [name, value] of parameters) {
    if (IGNORED.has(name)) continue
    if (name.startsWith('_pq_.')) {
      client.unsupportedOptions.push(name)
      continue
    }
    if (name === 'options') {
      const words = optionWords(value)
      for (let i = 0; i < words.length; i++) {
        const word = words[i]!
        const setting = word === '-c' ? words[++i] : word.startsWith('--') ? word.slice(2) : word
        const eq = setting?.indexOf('=') ?? -1
        if (setting === undefined || eq <= 0) return { refused: refused(`options=${value}`) }
        if (!addSetting(client.settings, setting.slice(0, eq), setting.slice(eq + 1)))
          return { refused: refused(setting.slice(0, eq)) }
      }
      continue
    }
    if (!addSetting(client.settings, name, value)) return { refused: refused(name) }
  }
  return client
}

/**
 * A string literal of `value`, read the same whatever the backend's
 * standard_conforming_strings: an escape string (E'…') always takes a backslash as an
 * escape, so backslashes are doubled as well as quotes. With a plain '…' and only quotes
 * doubled, a role or database that turns standard_conforming_strings off would let a
 * backslash end the literal, and the rest of a client's setting run as SQL (outside a
 * readonly token's READ ONLY transaction).
 */
function literal(value: string): string {
  return `E'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`
}

/** SQL that applies a client's settings to a backend, as its startup packet would have. */
export function applySettingsSql(settings: ReadonlyMap<string, string>): string {
  const calls = [...settings].map(
    ([name, value]) => `set_config('${name}', ${literal(value)}, false)`,
  )
  return `SELECT ${calls.join(', ')}`
}
