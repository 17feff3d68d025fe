/**
 * Turns a config file (or the DATABASE_URL / embedded modes) into a validated {@link Config},
 * or a {@link ConfigError} listing one line per problem: the path, the value (secrets
 * redacted) and the fix.
 */
import { readFile } from 'node:fs/promises'
import type { z } from 'zod'
import { crossCheck } from './cross-check.js'
import { formatPath, isUnder, show, type Problem } from './problem.js'
import { configSchema, type Config, type ConfigInput } from './schema.js'

/** An invalid configuration; `problems` holds one human line each. */
export class ConfigError extends Error {
  readonly problems: string[]
  constructor(problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
    this.name = 'ConfigError'
    this.problems = problems
  }
}

type Path = (string | number)[]

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined
    value = (value as Record<PropertyKey, unknown>)[key]
  }
  return value
}

/** A variable that is not set; `whole` when it was the entire value. */
interface Missing extends Problem {
  whole: boolean
}

/**
 * Replaces `${NAME}` in every string of a parsed JSON document with the environment's value.
 * A variable that is not set is one problem in `missing`.
 */
export function substituteEnv(
  input: unknown,
  env: Record<string, string | undefined>,
  missing: Missing[],
  path: Path = [],
): unknown {
  if (typeof input === 'string') {
    const whole = /^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/.test(input)
    return input.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
      const value = env[name]
      if (value !== undefined) return value
      const at = formatPath(path)
      missing.push({
        at,
        text: `${at}: environment variable ${name} is not set (export it, or write the value)`,
        whole,
      })
      // Inside a longer value (a password in a URL), a stand-in that fits anywhere in a URL
      // lets the rest of the value be checked.
      return whole ? '' : '1'
    })
  }
  if (Array.isArray(input))
    return input.map((item, i) => substituteEnv(item, env, missing, [...path, i]))
  if (input !== null && typeof input === 'object') {
    return Object.fromEntries(
      Object.entries(input).map(([key, value]) => [
        key,
        substituteEnv(value, env, missing, [...path, key]),
      ]),
    )
  }
  return input
}

/** Keys that earlier versions knew, with what to do instead. */
const RETIRED_KEYS: Record<string, string> = {
  shutdownGraceMs: 'renamed: write it as server.drainGraceMs (docs/configuration.md)',
  resetMode:
    'removed: every session is now reset after every borrow, whatever ran (docs/pooling.md): delete the key',
}

function describeIssue(issue: z.core.$ZodIssue, input: unknown): Problem {
  const at = formatPath(issue.path)
  const value = valueAt(input, issue.path)
  if (issue.code === 'unrecognized_keys') {
    const retired = issue.keys.filter((key) => RETIRED_KEYS[key] !== undefined)
    if (retired.length === issue.keys.length) {
      return { at, text: retired.map((key) => `${at}.${key}: ${RETIRED_KEYS[key]}`).join('; ') }
    }
    return {
      at,
      text: `${at}: unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')} (remove ${issue.keys.length > 1 ? 'them' : 'it'}, or check the spelling in docs/configuration.md)`,
    }
  }
  if (value === undefined && issue.code === 'invalid_type')
    return { at, text: `${at} is required (${issue.message})` }
  return { at, text: `${at} (${show(issue.path, value)}): ${issue.message}` }
}

// Validates a document whose ${ENV} references are already substituted.
function validate(input: unknown, missing: readonly Missing[]): Config {
  const parsed = configSchema.safeParse(input)
  const found = [
    ...(parsed.success ? [] : parsed.error.issues.map((issue) => describeIssue(issue, input))),
    ...crossCheck(input),
  ].filter((problem) => !missing.some((m) => m.whole && isUnder(problem, m.at)))
  const problems = [...missing, ...found].map((problem) => problem.text)
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems)
  return parsed.data
}

/**
 * Validates a parsed JSON document into a {@link Config}, substituting `${ENV}` first. Every
 * problem comes in one {@link ConfigError}: missing variables, the schema's and the
 * cross-key checks'. A value that was nothing but a missing variable is not reported again.
 */
export function parseConfig(
  document: unknown,
  env: Record<string, string | undefined> = process.env,
): Config {
  const missing: Missing[] = []
  return validate(substituteEnv(document, env, missing), missing)
}

// V8's "Unexpected token" message quotes up to ten characters either side of the token, which
// may be a password or a token written without quotes: only the place is kept.
const QUOTING = /^Unexpected token '.+?', (\.\.\.)?"(.*)"(\.\.\.)? is not valid JSON$/s

/** Why `text` is not JSON, with the place as line and column and no piece of the text. */
function jsonSyntaxProblem(text: string, message: string): string {
  let position = Number(/ at position (\d+)$/.exec(message)?.[1] ?? Number.NaN)
  let reason = message.replace(/ in JSON at position \d+$| at position \d+$/, '')
  const quoting = QUOTING.exec(message)
  if (quoting) {
    const [, before, excerpt = '', after] = quoting
    // The excerpt runs from ten characters before the token, or from the start of the text.
    if (before) position = text.indexOf(excerpt) + 10
    else if (after) position = excerpt.length - 10
    reason = 'unexpected character'
  } else if (message.includes('"')) reason = 'syntax error'
  if (Number.isNaN(position) || position < 0) return `not valid JSON (${reason})`
  const lines = text.slice(0, position).split('\n')
  return `not valid JSON at line ${lines.length}, column ${lines.at(-1)!.length + 1} (${reason})`
}

/**
 * Reads each tenant's `connection.caFile` from the (unvalidated) input, so an unreadable
 * file is reported with the other problems.
 */
async function readCaFiles(
  input: unknown,
): Promise<{ contents: Map<string, string>; problems: string[] }> {
  const contents = new Map<string, string>()
  const problems: string[] = []
  const tenants = valueAt(input, ['tenants'])
  if (tenants === null || typeof tenants !== 'object') return { contents, problems }
  for (const [name, tenant] of Object.entries(tenants)) {
    const caFile = valueAt(tenant, ['connection', 'caFile'])
    if (typeof caFile !== 'string' || caFile === '') continue
    try {
      contents.set(name, await readFile(caFile, 'utf8'))
    } catch (error) {
      problems.push(
        `tenants.${name}.connection.caFile (${JSON.stringify(caFile)}): cannot read it (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      )
    }
  }
  return { contents, problems }
}

/** Reads, substitutes and validates a JSON config file; `connection.caFile` is read into `ca`. */
export async function loadConfigFile(
  file: string,
  env: Record<string, string | undefined> = process.env,
): Promise<Config> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    const reason =
      (error as NodeJS.ErrnoException).code === 'ENOENT'
        ? 'no such file'
        : String((error as Error).message)
    throw new ConfigError([`${file}: cannot read the config file (${reason})`])
  }
  let document: unknown
  try {
    document = JSON.parse(text)
  } catch (error) {
    throw new ConfigError([`${file}: ${jsonSyntaxProblem(text, (error as Error).message)}`])
  }
  const missing: Missing[] = []
  const input = substituteEnv(document, env, missing)
  const ca = await readCaFiles(input)
  let config: Config
  try {
    config = validate(input, missing)
  } catch (error) {
    if (error instanceof ConfigError && ca.problems.length > 0)
      throw new ConfigError([...error.problems, ...ca.problems])
    throw error
  }
  if (ca.problems.length > 0) throw new ConfigError(ca.problems)
  for (const [name, pem] of ca.contents) config.tenants[name]!.connection.ca = pem
  return config
}

/** Builds the one-tenant config of the DATABASE_URL and embedded modes. */
export function singleTenantConfig(
  url: string,
  token: string,
  server: { host?: string; port?: number; drainGraceMs?: number } = {},
  tenant: { allowPrivilegedRole?: boolean } = {},
): Config {
  const document: ConfigInput = {
    server: { ...server },
    tenants: {
      default: { connection: { url }, tokens: [{ token, role: 'readwrite' }], ...tenant },
    },
  }
  // The URL and the token are values, not templates: no ${ENV} substitution.
  return validate(document, [])
}
