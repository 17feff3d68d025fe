/**
 * Where `serve` gets its database, first match wins: a config file, DATABASE_URL, or the
 * embedded PostgreSQL. The file, the environment and the command line are checked together:
 * one {@link ConfigError} lists every problem, each naming its key or variable.
 */
import { join, resolve } from 'node:path'
import {
  applyOverrides,
  databaseUrlProblems,
  envValue,
  readServerOverrides,
  tokenProblem,
  type Env,
} from '../config/environment.js'
import { ConfigError, loadConfigFile, singleTenantConfig } from '../config/load.js'
import { REDACTED } from '../config/redact.js'
import type { Config } from '../config/schema.js'
import { startEmbedded, type EmbeddedDatabase } from '../embedded/postgres.js'
import { DEFAULT_DATA_DIR, displayPath, keptSecret } from '../embedded/folder.js'
import { generateToken } from './token.js'

/** What `serve` was asked for on its command line. */
export interface ServeRequest {
  /** `--config FILE`, else SLUICE_CONFIG. */
  configFile: string | undefined
  /** `--data-dir DIR`, else SLUICE_DATA_DIR, else ./.sluice. */
  dataDir: string | undefined
}

/** The config to serve and where it came from. */
export interface DatabaseSource {
  config: Config
  /** The config file, when there is one (it is reloaded on SIGHUP). */
  configFile: string | undefined
  /** The embedded server, when it was started (stop it on the way out). */
  embedded: EmbeddedDatabase | undefined
  /** The default tenant's token when the operator did not choose it: print it. */
  printToken: string | undefined
}

/** Options of {@link openDatabaseSource}. */
export interface SourceOptions {
  /** Says what is about to happen (the embedded server takes seconds to start). */
  say: (line: string) => void
  /** Receives the embedded PostgreSQL's log (SLUICE_DEBUG). */
  debug: ((line: string) => void) | undefined
}

async function fromFile(file: string, env: Env, envProblems: string[]): Promise<Config> {
  let config: Config | undefined
  const problems: string[] = []
  try {
    config = await loadConfigFile(file, env)
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    problems.push(...error.problems)
  }
  problems.push(...envProblems)
  if (problems.length > 0 || config === undefined) throw new ConfigError(problems)
  return config
}

// The embedded mode keeps the token beside the data, so it survives restarts. It is printed
// in a curl line (Authorization: Bearer, one word) that must work as printed: a file edited
// by hand into two lines or words would print a broken line and a token curl cannot send.
async function embeddedToken(folder: string): Promise<string> {
  const file = join(folder, 'token')
  const token = await keptSecret(file, generateToken)
  const problem =
    tokenProblem(displayPath(file), token) ??
    (/\s/.test(token)
      ? `${displayPath(file)} ("${REDACTED}"): holds a space or a line break, which no Authorization: Bearer header can carry`
      : undefined)
  if (problem !== undefined)
    throw new ConfigError([`${problem} (or delete the file for a new one)`])
  return token
}

/** Reads the config (and starts the embedded server when nothing else is configured). */
export async function openDatabaseSource(
  request: ServeRequest,
  env: Env,
  options: SourceOptions,
): Promise<DatabaseSource> {
  const { overrides, problems } = readServerOverrides(env)
  const configFile = request.configFile ?? envValue(env, 'SLUICE_CONFIG')
  if (configFile !== undefined) {
    const config = applyOverrides(await fromFile(configFile, env, problems), overrides)
    return { config, configFile, embedded: undefined, printToken: undefined }
  }
  const token = envValue(env, 'SLUICE_TOKEN')
  const url = envValue(env, 'DATABASE_URL')
  const tokenTooShort = token === undefined ? undefined : tokenProblem('SLUICE_TOKEN', token)
  if (tokenTooShort !== undefined) problems.push(tokenTooShort)
  if (url !== undefined) problems.push(...databaseUrlProblems('DATABASE_URL', url))
  if (problems.length > 0) throw new ConfigError(problems)
  if (url !== undefined) {
    const chosen = token ?? generateToken()
    const allowPrivilegedRole = envValue(env, 'SLUICE_ALLOW_PRIVILEGED_ROLE') === '1'
    const config = applyOverrides(
      singleTenantConfig(url, chosen, {}, { allowPrivilegedRole }),
      overrides,
    )
    return { config, configFile, embedded: undefined, printToken: token ? undefined : chosen }
  }
  const folder = resolve(request.dataDir ?? envValue(env, 'SLUICE_DATA_DIR') ?? DEFAULT_DATA_DIR)
  options.say(
    `no config file and no DATABASE_URL: starting the embedded PostgreSQL in ${displayPath(folder)}`,
  )
  const embedded = await startEmbedded(folder, options.debug ? { log: options.debug } : {})
  try {
    const chosen = token ?? (await embeddedToken(folder))
    // A laptop has no load balancer to wait for, and Ctrl-C stops the embedded PostgreSQL too
    // (the terminal signals it): the drain ends at once.
    const config = applyOverrides(
      // The embedded database is the developer's own, on this machine, as its superuser.
      singleTenantConfig(embedded.url, chosen, { drainGraceMs: 0 }, { allowPrivilegedRole: true }),
      overrides,
    )
    return { config, configFile, embedded, printToken: token ? undefined : chosen }
  } catch (error) {
    await embedded.stop()
    throw error
  }
}
