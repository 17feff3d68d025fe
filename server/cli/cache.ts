/**
 * `sluice cache install-triggers` and `sluice cache remove-triggers`: the triggers that make
 * writes made outside Sluice reach every gateway cache (server/cache/triggers.ts, docs/cache.md).
 * The database is a tenant's of the config file (`--config FILE` or SLUICE_CONFIG, and
 * `--tenant NAME` when several tenants enable the cache), or DATABASE_URL.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { installTriggers, removeTriggers } from '../cache/triggers.js'
import { envValue, type Env } from '../config/environment.js'
import { ConfigError, loadConfigFile, singleTenantConfig } from '../config/load.js'
import type { TenantConfig } from '../config/schema.js'
import { resolveConnection } from '../pool/pg-config.js'
import type { CliIo } from './io.js'
import { databaseOf } from './summary.js'

interface CacheArgs {
  action: 'install-triggers' | 'remove-triggers'
  config: string | undefined
  tenants: string[]
  schemas: string[]
}

function parseArgs(args: readonly string[]): CacheArgs {
  const [action, ...rest] = args
  if (action !== 'install-triggers' && action !== 'remove-triggers')
    throw new ConfigError(['cache: give install-triggers or remove-triggers (see --help)'])
  const parsed: CacheArgs = { action, config: undefined, tenants: [], schemas: [] }
  for (let i = 0; i < rest.length; i++) {
    const [name = '', inline] = rest[i]!.split(/=(.*)/s, 2)
    const value = inline ?? rest[++i]
    if (value === undefined || value === '') throw new ConfigError([`cache: ${name} needs a value`])
    if (name === '--config') parsed.config = value
    else if (name === '--tenant') parsed.tenants.push(value)
    else if (name === '--schema' && action === 'install-triggers') parsed.schemas.push(value)
    else throw new ConfigError([`cache: unknown option "${name}" (see --help)`])
  }
  return parsed
}

/** The databases to act on, by the tenant names that reach them (or DATABASE_URL). */
async function targets(args: CacheArgs, env: Env): Promise<[string, TenantConfig][]> {
  const file = args.config ?? envValue(env, 'SLUICE_CONFIG')
  if (file === undefined) {
    const url = envValue(env, 'DATABASE_URL')
    if (url === undefined)
      throw new ConfigError(['cache: needs --config FILE (or SLUICE_CONFIG), or DATABASE_URL'])
    if (args.tenants.length > 0)
      throw new ConfigError(['cache: --tenant needs a config file (--config FILE)'])
    // Validated as `serve` would; the token is a placeholder, never used.
    const config = singleTenantConfig(url, randomBytes(24).toString('base64url'))
    return [['DATABASE_URL', config.tenants.default!]]
  }
  const config = await loadConfigFile(file, env)
  const names =
    args.tenants.length > 0
      ? args.tenants
      : Object.keys(config.tenants).filter(
          (name) => config.tenants[name]!.cache.enabled || Object.keys(config.tenants).length === 1,
        )
  const unknown = names.filter((name) => !Object.hasOwn(config.tenants, name))
  if (unknown.length > 0)
    throw new ConfigError(
      unknown.map((name) => `cache: --tenant ${name}: no such tenant in ${file}`),
    )
  if (names.length === 0)
    throw new ConfigError([`cache: no tenant of ${file} enables the cache: name one with --tenant`])
  return names.map((name) => [name, config.tenants[name]!])
}

/** Runs `sluice cache …`; returns the exit code. */
export async function cacheCommand(args: readonly string[], io: CliIo, env: Env): Promise<number> {
  const parsed = parseArgs(args)
  for (const [name, tenant] of await targets(parsed, env)) {
    const client = new pg.Client(resolveConnection(tenant).client)
    client.on('error', () => {})
    const where = `${name} (${databaseOf(tenant)})`
    try {
      await client.connect()
      if (parsed.action === 'remove-triggers') {
        await removeTriggers(client)
        io.out(`${where}: cache triggers removed`)
        continue
      }
      const report = await installTriggers(
        client,
        parsed.schemas.length > 0 ? parsed.schemas : undefined,
      )
      io.out(
        `${where}: statement triggers on ${report.tables.length} table${report.tables.length === 1 ? '' : 's'}; writes made outside Sluice now reach every cache`,
      )
      io.out(
        report.eventTrigger
          ? `${where}: DDL event trigger installed: schema changes empty every cache, and new tables get the trigger`
          : `${where}: no DDL event trigger (${report.eventTriggerProblem}; it needs a superuser): schema changes made outside Sluice are noticed within a minute, and new tables need this command again`,
      )
    } finally {
      await client.end().catch(() => {})
    }
  }
  return 0
}
