/**
 * Turns a config file (or the DATABASE_URL / embedded modes) into a validated {@link Config},
 * or a {@link ConfigError} listing one line per problem: the path, the value (secrets
 * redacted) and the fix.
 */
import { readFile } from 'node:fs/promises'
import type { z } from 'zod'
import {
  configSchema,
  poolSchema,
  transactionsSchema,
  type Config,
  type ConfigInput,
} from './schema.js'
import { redactValue } from './redact.js'

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

function formatPath(path: readonly PropertyKey[]): string {
  return path.length === 0 ? '(root)' : path.map(String).join('.')
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined
    value = (value as Record<PropertyKey, unknown>)[key]
  }
  return value
}

function show(path: readonly PropertyKey[], value: unknown): string {
  return JSON.stringify(redactValue(path, value)) ?? 'undefined'
}

/** Replaces `${NAME}` in every string of a parsed JSON document with the environment's value. */
export function substituteEnv(
  input: unknown,
  env: Record<string, string | undefined>,
  problems: string[],
  path: Path = [],
): unknown {
  if (typeof input === 'string') {
    return input.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
      const value = env[name]
      if (value === undefined) {
        problems.push(
          `${formatPath(path)}: environment variable ${name} is not set (export it, or write the value)`,
        )
        return ''
      }
      return value
    })
  }
  if (Array.isArray(input))
    return input.map((item, i) => substituteEnv(item, env, problems, [...path, i]))
  if (input !== null && typeof input === 'object') {
    return Object.fromEntries(
      Object.entries(input).map(([key, value]) => [
        key,
        substituteEnv(value, env, problems, [...path, key]),
      ]),
    )
  }
  return input
}

function describeIssue(issue: z.core.$ZodIssue, input: unknown): string {
  const where = formatPath(issue.path)
  const value = valueAt(input, issue.path)
  if (issue.code === 'unrecognized_keys') {
    return `${where}: unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')} (remove ${issue.keys.length > 1 ? 'them' : 'it'}, or check the spelling in docs/configuration.md)`
  }
  if (value === undefined && issue.code === 'invalid_type')
    return `${where} is required (${issue.message})`
  return `${where} (${show(issue.path, value)}): ${issue.message}`
}

type Raw = Record<string, unknown>

const isObject = (value: unknown): value is Raw =>
  value !== null && typeof value === 'object' && !Array.isArray(value)

/**
 * Checks that span several keys, which the schema alone cannot express. They read the raw
 * input, section by section, so they report alongside the schema's own problems instead of
 * waiting for those to be fixed first.
 */
function crossCheck(input: unknown): string[] {
  const problems: string[] = []
  const seenTokens = new Map<string, string>()
  const tenants = isObject(input) && isObject(input.tenants) ? input.tenants : {}
  for (const [name, tenant] of Object.entries(tenants)) {
    if (!isObject(tenant)) continue
    const at = `tenants.${name}`
    const pool = poolSchema.safeParse(tenant.pool ?? {})
    if (pool.success && pool.data.min > pool.data.max) {
      problems.push(
        `${at}.pool.min (${pool.data.min}) is greater than ${at}.pool.max (${pool.data.max}): lower min or raise max`,
      )
    }
    const { connection } = tenant
    if (isObject(connection)) {
      if (connection.url === undefined && connection.host === undefined) {
        problems.push(
          `${at}.connection needs a url or a host (e.g. "url": "postgres://user:\${DB_PASSWORD}@db:5432/app")`,
        )
      }
      if (connection.ca !== undefined && connection.caFile !== undefined) {
        problems.push(`${at}.connection has both ca and caFile: keep one`)
      }
    }
    const transactions = transactionsSchema.safeParse(tenant.transactions ?? {})
    if (transactions.success) {
      const t = transactions.data
      if (t.idleTimeoutMs > t.maxIdleTimeoutMs) {
        problems.push(
          `${at}.transactions.idleTimeoutMs (${t.idleTimeoutMs}) is greater than ${at}.transactions.maxIdleTimeoutMs (${t.maxIdleTimeoutMs})`,
        )
      }
      if (t.timeoutMs > t.maxTimeoutMs) {
        problems.push(
          `${at}.transactions.timeoutMs (${t.timeoutMs}) is greater than ${at}.transactions.maxTimeoutMs (${t.maxTimeoutMs})`,
        )
      }
    }
    const tokens = Array.isArray(tenant.tokens) ? tenant.tokens : []
    tokens.forEach((entry: unknown, i) => {
      if (!isObject(entry)) return
      const key =
        typeof entry.token === 'string'
          ? `plain:${entry.token}`
          : typeof entry.sha256 === 'string'
            ? `sha256:${entry.sha256.toLowerCase()}`
            : undefined
      if (key === undefined) return
      const other = seenTokens.get(key)
      if (other !== undefined) {
        problems.push(
          `${at}.tokens.${i} ("[redacted]") repeats ${other}: every token must be unique, since the token decides the tenant`,
        )
      }
      seenTokens.set(key, `${at}.tokens.${i}`)
    })
  }
  return problems
}

/** Validates a parsed JSON document (already env-substituted or not) into a {@link Config}. */
export function parseConfig(
  document: unknown,
  env: Record<string, string | undefined> = process.env,
): Config {
  const problems: string[] = []
  const input = substituteEnv(document, env, problems)
  if (problems.length > 0) throw new ConfigError(problems)
  const parsed = configSchema.safeParse(input)
  if (!parsed.success) {
    problems.push(...parsed.error.issues.map((issue) => describeIssue(issue, input)))
  }
  problems.push(...crossCheck(input))
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems)
  return parsed.data
}

/** Reads, substitutes and validates a JSON config file. */
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
    throw new ConfigError([`${file}: not valid JSON (${(error as Error).message})`])
  }
  return readCaFiles(parseConfig(document, env))
}

/** Reads each tenant's `connection.caFile` into `connection.ca`. */
async function readCaFiles(config: Config): Promise<Config> {
  const problems: string[] = []
  for (const [name, tenant] of Object.entries(config.tenants)) {
    const { caFile } = tenant.connection
    if (caFile === undefined) continue
    try {
      tenant.connection.ca = await readFile(caFile, 'utf8')
    } catch (error) {
      problems.push(
        `tenants.${name}.connection.caFile (${JSON.stringify(caFile)}): cannot read it (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      )
    }
  }
  if (problems.length > 0) throw new ConfigError(problems)
  return config
}

/** Builds the one-tenant config of the DATABASE_URL and embedded modes. */
export function singleTenantConfig(
  url: string,
  token: string,
  server: { host?: string; port?: number } = {},
): Config {
  const document: ConfigInput = {
    server: { ...server },
    tenants: { default: { connection: { url }, tokens: [{ token, role: 'readwrite' }] } },
  }
  return parseConfig(document, {})
}
