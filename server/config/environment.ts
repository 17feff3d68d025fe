/**
 * The environment variables the CLI reads besides a config file: `PORT`, `HOST`,
 * `SLUICE_ADMIN_TOKEN`, `SLUICE_LOG_LEVEL` and `SLUICE_WORKERS` override server settings; without a file,
 * `DATABASE_URL` and `SLUICE_TOKEN` make the one tenant. Each is checked like the config
 * key it stands for, with the same rules and messages, and every problem names the variable.
 * An empty variable counts as unset (`DATABASE_URL= npm start`).
 */
import { parseConnectionUrl } from './connection-url.js'
import { checkTokens } from './cross-check.js'
import { ConfigError } from './load.js'
import { REDACTED, redactUrl } from './redact.js'
import {
  logSchema,
  TOKEN_MIN_LENGTH,
  TOKEN_TOO_SHORT,
  type Config,
  type LogConfig,
} from './schema.js'

/** The process environment, or a test's. */
export type Env = Record<string, string | undefined>

/** Server settings the environment overrides. */
export interface ServerOverrides {
  host?: string
  port?: number
  pgPort?: number
  drainGraceMs?: number
  adminToken?: string
  logLevel?: LogConfig['level']
  workers?: number | 'auto'
}

/** A variable's value; an empty one counts as unset. */
export function envValue(env: Env, name: string): string | undefined {
  const value = env[name]
  return value === '' ? undefined : value
}

/** The problem of a token variable, or undefined when it is long enough. */
export function tokenProblem(name: string, token: string): string | undefined {
  return token.length >= TOKEN_MIN_LENGTH
    ? undefined
    : `${name} ("${REDACTED}"): ${TOKEN_TOO_SHORT}`
}

/** The problems of a connection URL given by the variable `name` (DATABASE_URL). */
export function databaseUrlProblems(name: string, url: string): string[] {
  const parsed = parseConnectionUrl(url)
  if (parsed.ok) return []
  const shown = JSON.stringify(redactUrl(url))
  return parsed.problems.map((problem) => `${name} (${shown}): ${problem}`)
}

/**
 * Reads PORT, HOST, SLUICE_PG_PORT, SLUICE_DRAIN_GRACE_MS, SLUICE_ADMIN_TOKEN,
 * SLUICE_LOG_LEVEL and SLUICE_WORKERS; lists every problem.
 */
export function readServerOverrides(env: Env): { overrides: ServerOverrides; problems: string[] } {
  const overrides: ServerOverrides = {}
  const problems: string[] = []
  const host = envValue(env, 'HOST')
  if (host !== undefined) overrides.host = host
  for (const [name, key] of [
    ['PORT', 'port'],
    ['SLUICE_PG_PORT', 'pgPort'],
  ] as const) {
    const port = envValue(env, name)
    if (port === undefined) continue
    const number = Number(port)
    if (/^\d+$/.test(port) && number <= 65535) overrides[key] = number
    else problems.push(`${name} (${JSON.stringify(port)}) must be a port number from 0 to 65535`)
  }
  const drain = envValue(env, 'SLUICE_DRAIN_GRACE_MS')
  if (drain !== undefined) {
    if (/^\d+$/.test(drain) && Number.isSafeInteger(Number(drain)))
      overrides.drainGraceMs = Number(drain)
    else
      problems.push(
        `SLUICE_DRAIN_GRACE_MS (${JSON.stringify(drain)}) must be a whole number of milliseconds`,
      )
  }
  const adminToken = envValue(env, 'SLUICE_ADMIN_TOKEN')
  if (adminToken !== undefined) {
    const problem = tokenProblem('SLUICE_ADMIN_TOKEN', adminToken)
    if (problem === undefined) overrides.adminToken = adminToken
    else problems.push(problem)
  }
  const workers = envValue(env, 'SLUICE_WORKERS')
  if (workers !== undefined) {
    if (workers === 'auto') overrides.workers = 'auto'
    else if (/^\d+$/.test(workers) && Number(workers) >= 1 && Number(workers) <= 255)
      overrides.workers = Number(workers)
    else
      problems.push(
        `SLUICE_WORKERS (${JSON.stringify(workers)}) must be a number of workers from 1 to 255, or auto`,
      )
  }
  const level = envValue(env, 'SLUICE_LOG_LEVEL')
  if (level !== undefined) {
    const parsed = logSchema.shape.level.safeParse(level)
    if (parsed.success) overrides.logLevel = parsed.data
    else
      problems.push(
        `SLUICE_LOG_LEVEL (${JSON.stringify(level)}) must be one of ${logSchema.shape.level.unwrap().options.join(', ')}`,
      )
  }
  return { overrides, problems }
}

/**
 * A config with the environment's overrides applied (the admin token only when it sets none).
 * Throws {@link ConfigError} when the admin token is then also a tenant's token.
 */
export function applyOverrides(config: Config, overrides: ServerOverrides): Config {
  const server = { ...config.server }
  if (overrides.host !== undefined) server.host = overrides.host
  if (overrides.port !== undefined) server.port = overrides.port
  if (overrides.pgPort !== undefined) server.pgPort = overrides.pgPort
  if (overrides.drainGraceMs !== undefined) server.drainGraceMs = overrides.drainGraceMs
  if (overrides.adminToken !== undefined && server.adminToken === undefined)
    server.adminToken = overrides.adminToken
  if (overrides.logLevel !== undefined) server.log = { ...server.log, level: overrides.logLevel }
  if (overrides.workers !== undefined) server.workers = overrides.workers
  const applied = { ...config, server }
  // SLUICE_ADMIN_TOKEN may be the token of a tenant: its holder would be the operator.
  const problems = checkTokens(applied)
  if (problems.length > 0) throw new ConfigError(problems.map((problem) => problem.text))
  return applied
}

/** {@link applyOverrides} of the environment; a {@link ConfigError} lists its problems. */
export function applyEnv(config: Config, env: Env): Config {
  const { overrides, problems } = readServerOverrides(env)
  if (problems.length > 0) throw new ConfigError(problems)
  return applyOverrides(config, overrides)
}

/** The secrets the environment holds (tokens, DATABASE_URL's password), to keep out of output. */
export function secretsOfEnv(env: Env): string[] {
  const secrets: string[] = []
  for (const name of ['SLUICE_TOKEN', 'SLUICE_ADMIN_TOKEN']) {
    const value = envValue(env, name)
    if (value !== undefined) secrets.push(value)
  }
  const url = envValue(env, 'DATABASE_URL')
  const parsed = url === undefined ? undefined : parseConnectionUrl(url)
  if (parsed?.ok && parsed.url.password) secrets.push(parsed.url.password)
  return secrets
}
