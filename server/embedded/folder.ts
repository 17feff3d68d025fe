/**
 * The embedded mode's folder (`./.sluice` unless SLUICE_DATA_DIR says otherwise): who uses
 * it (`sluice.pid`), where PostgreSQL keeps its data, and the secrets kept beside it (the
 * superuser password, the gateway token), each in a file of mode 0600.
 */
import { createHash } from 'node:crypto'
import { readFileSync, readlinkSync, realpathSync, unlinkSync } from 'node:fs'
import {
  chmod,
  lstat,
  mkdir,
  readFile,
  readlink,
  stat,
  symlink,
  unlink,
  writeFile,
} from 'node:fs/promises'
import { dirname, isAbsolute, join, relative } from 'node:path'
import { StartupError } from '../startup-error.js'

/** The default folder of the embedded mode, relative to the working directory. */
export const DEFAULT_DATA_DIR = '.sluice'

/** How messages name a folder: `./.sluice` under the working directory, else its full path. */
export function displayPath(path: string): string {
  const rel = relative(process.cwd(), path)
  if (rel === '') return '.'
  return rel.startsWith('..') || isAbsolute(rel) ? path : `./${rel}`
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code
}

/**
 * Whether process `pid` runs and looks like `program`. After a restart a pid from an old
 * file may belong to another program, so on Linux its command line is checked too.
 */
function isRunning(pid: number, program: RegExp): boolean {
  try {
    process.kill(pid, 0)
  } catch (error) {
    if (errorCode(error) !== 'EPERM') return false
  }
  try {
    return program.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'))
  } catch {
    return true
  }
}

/**
 * Makes this process the one Sluice using `root` (it writes its pid to `sluice.pid`), or
 * throws DATA_FOLDER_IN_USE naming the other one. Resolves with the function that lets go;
 * the claim also ends when the process exits.
 */
export async function claimFolder(root: string): Promise<() => void> {
  const file = join(root, 'sluice.pid')
  for (let attempt = 0; ; attempt++) {
    try {
      await writeFile(file, `${process.pid}\n`, { flag: 'wx', mode: 0o644 })
      break
    } catch (error) {
      if (errorCode(error) !== 'EEXIST' || attempt > 0) throw error
      const pid = Number.parseInt(await readFile(file, 'utf8').catch(() => ''), 10)
      if (pid === process.pid || (pid > 0 && isRunning(pid, /sluice|server\/main\.[jt]s/))) {
        throw new StartupError(
          'DATA_FOLDER_IN_USE',
          `another Sluice is using ${displayPath(root)} (pid ${pid}): stop it (kill ${pid}), or give this one another folder with SLUICE_DATA_DIR=DIR`,
        )
      }
      // The Sluice that wrote it is gone (killed, or the machine restarted).
      await unlink(file).catch(() => {})
    }
  }
  let released = false
  const release = () => {
    if (released) return
    released = true
    process.removeListener('exit', release)
    try {
      if (readFileSync(file, 'utf8').trim() === String(process.pid)) unlinkSync(file)
    } catch {
      // Already gone: nothing to let go.
    }
  }
  process.on('exit', release)
  return release
}

/** A PostgreSQL server running on a data folder, as its postmaster.pid describes it. */
export interface RunningPostgres {
  pid: number
  port: number
}

/**
 * Whether process `pid` works in `dir`. A postmaster changes to its data folder, so on Linux
 * this tells a PostgreSQL on this data from one on other data that got the pid of a stale
 * postmaster.pid (after a restart, or a kill -9 long ago). Another user's process (EACCES)
 * is not ours: ours runs as us, or as 'postgres' when we are root and may look. Without
 * /proc there is no telling: the pid is trusted.
 */
function worksIn(pid: number, dir: string): boolean {
  let cwd: string
  try {
    cwd = readlinkSync(`/proc/${pid}/cwd`)
  } catch (error) {
    return errorCode(error) !== 'EACCES'
  }
  try {
    return cwd === realpathSync(dir)
  } catch {
    return false
  }
}

/** The PostgreSQL that runs on `dataDir`, if one does (its postmaster.pid names it). */
export async function runningPostgres(dataDir: string): Promise<RunningPostgres | undefined> {
  const text = await readFile(join(dataDir, 'postmaster.pid'), 'utf8').catch(() => undefined)
  if (text === undefined) return undefined
  // Line 1 is the server's pid, line 4 its port (PostgreSQL's pidfile.h).
  const lines = text.split('\n')
  const pid = Number.parseInt(lines[0] ?? '', 10)
  const port = Number.parseInt(lines[3] ?? '', 10)
  return pid > 0 && isRunning(pid, /postgres/) && worksIn(pid, dataDir) ? { pid, port } : undefined
}

/**
 * Removes a postmaster.pid that no running PostgreSQL of `dataDir` wrote. PostgreSQL itself
 * takes over one whose pid is gone, but refuses one whose pid now belongs to any live
 * process ("lock file already exists"), which only deleting the file cures.
 */
export async function removeStaleLock(dataDir: string): Promise<void> {
  if ((await runningPostgres(dataDir)) === undefined)
    await unlink(join(dataDir, 'postmaster.pid')).catch(() => {})
}

/** The first folder above `folder` that other users cannot enter, if any. */
async function closedAncestor(folder: string): Promise<string | undefined> {
  for (let at = dirname(folder); ; at = dirname(at)) {
    if (((await stat(at)).mode & 0o001) === 0) return at
    if (dirname(at) === at) return undefined
  }
}

/** Where PostgreSQL's data lives, and why not in the folder itself when it is elsewhere. */
export interface DataLocation {
  dataDir: string
  /** Set when the data lives outside the folder: the folder the 'postgres' user cannot enter. */
  closed: string | undefined
}

/**
 * Where the data folder really lives. As root, PostgreSQL runs as the 'postgres' user, which
 * must be able to walk down to it; under a home folder of mode 0700 (such as /root) it
 * cannot, so the data goes to /var/lib/sluice/<hash of the folder> and <root>/pgdata
 * becomes a link to it.
 */
export async function dataLocation(root: string): Promise<DataLocation> {
  const local = join(root, 'pgdata')
  const existing = await lstat(local).catch(() => undefined)
  if (existing?.isSymbolicLink()) {
    return { dataDir: await readlink(local), closed: await closedAncestor(root) }
  }
  if (existing !== undefined || process.getuid?.() !== 0)
    return { dataDir: local, closed: undefined }
  const closed = await closedAncestor(root)
  if (closed === undefined) return { dataDir: local, closed }
  const home = join('/var/lib/sluice', createHash('sha256').update(root).digest('hex').slice(0, 16))
  await mkdir(home, { recursive: true, mode: 0o755 })
  await chmod('/var/lib/sluice', 0o755)
  await chmod(home, 0o755)
  const target = join(home, 'pgdata')
  await symlink(target, local)
  return { dataDir: target, closed }
}

/**
 * The secret in `file`, without its line break, or EMBEDDED_FAILED naming the file (a folder
 * in its place, a mode that shuts this user out) and `fix`, what to do about it.
 */
export async function readSecret(file: string, fix: string): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trim()
  } catch (error) {
    throw new StartupError(
      'EMBEDDED_FAILED',
      `cannot read ${displayPath(file)} (${errorCode(error) ?? String(error)}): ${fix}`,
      String(error),
    )
  }
}

/** The secret kept in `file` (mode 0600); `make` makes it the first time. */
export async function keptSecret(file: string, make: () => string): Promise<string> {
  const made = make()
  try {
    await writeFile(file, `${made}\n`, { flag: 'wx', mode: 0o600 })
    return made
  } catch (error) {
    if (errorCode(error) !== 'EEXIST') throw error
    return readSecret(file, 'make it a file this user may read, or delete it for a new one')
  }
}
