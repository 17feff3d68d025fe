/**
 * `sluice embedded-url`: a URL of the embedded database that psql (or a migration tool)
 * takes as is, while a Sluice runs it. It holds the password: the command prints it because
 * it was asked to, on stdout only.
 */
import { stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { envValue, type Env } from '../config/environment.js'
import { ConfigError } from '../config/load.js'
import { DEFAULT_DATA_DIR, displayPath, readSecret, runningPostgres } from '../embedded/folder.js'
import { StartupError } from '../startup-error.js'
import type { CliIo } from './io.js'

function dataDirArg(args: readonly string[]): string | undefined {
  const [name, inline] = (args[0] ?? '').split(/=(.*)/s, 2)
  if (args.length === 0) return undefined
  const value = inline ?? args[1]
  const extra = inline === undefined ? args.slice(2) : args.slice(1)
  if (name !== '--data-dir' || value === undefined || value === '' || extra.length > 0)
    throw new ConfigError(['embedded-url: the one option is --data-dir DIR (see --help)'])
  return value
}

/** Runs `sluice embedded-url`; returns the exit code (1 when the database is not running). */
export async function embeddedUrlCommand(
  args: readonly string[],
  io: CliIo,
  env: Env,
): Promise<number> {
  const folder = resolve(dataDirArg(args) ?? envValue(env, 'SLUICE_DATA_DIR') ?? DEFAULT_DATA_DIR)
  const shown = displayPath(folder)
  const dataDir = join(folder, 'pgdata')
  const created = await stat(join(dataDir, 'PG_VERSION')).then(
    () => true,
    () => false,
  )
  if (!created) {
    throw new StartupError(
      'EMBEDDED_NOT_RUNNING',
      `there is no embedded database in ${shown} yet: npm start (with no DATABASE_URL and no config file) creates and starts it`,
    )
  }
  const running = await runningPostgres(dataDir)
  if (running === undefined) {
    throw new StartupError(
      'EMBEDDED_NOT_RUNNING',
      `the embedded PostgreSQL of ${shown} is not running: start it with npm start (in another terminal), then ask again`,
    )
  }
  const password = await readSecret(
    join(folder, 'password'),
    'make it a file this user may read (it holds the superuser password of the database)',
  )
  io.out(`postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${running.port}/postgres`)
  return 0
}
