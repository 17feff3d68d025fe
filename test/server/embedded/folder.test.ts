import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  claimFolder,
  keptSecret,
  removeStaleLock,
  runningPostgres,
} from '../../../server/embedded/folder.js'
import { isStartupError } from '../../../server/startup-error.js'

describe('the embedded folder', () => {
  let folder: string
  beforeEach(async () => {
    folder = await mkdtemp(join(tmpdir(), 'sluice-folder-'))
  })
  afterEach(() => rm(folder, { recursive: true, force: true }))

  it('is claimed by one Sluice at a time, and let go', async () => {
    const release = await claimFolder(folder)
    expect((await readFile(join(folder, 'sluice.pid'), 'utf8')).trim()).toBe(String(process.pid))
    const second = await claimFolder(folder).catch((error: unknown) => error)
    expect(isStartupError(second) && second.code).toBe('DATA_FOLDER_IN_USE')
    expect((second as Error).message).toContain(`(pid ${process.pid})`)
    release()
    await expect(stat(join(folder, 'sluice.pid'))).rejects.toThrow(/ENOENT/)
    const again = await claimFolder(folder)
    again()
  })

  it('takes over a claim whose process is gone', async () => {
    const gone = spawn(process.execPath, ['-e', ''])
    await new Promise((resolve) => gone.on('exit', resolve))
    await writeFile(join(folder, 'sluice.pid'), `${gone.pid}\n`)
    const release = await claimFolder(folder)
    expect((await readFile(join(folder, 'sluice.pid'), 'utf8')).trim()).toBe(String(process.pid))
    release()
  })

  it.runIf(process.platform === 'linux')(
    'takes over a claim whose pid now belongs to another program (a restart reused it)',
    async () => {
      const other = spawn('sleep', ['30'])
      try {
        await writeFile(join(folder, 'sluice.pid'), `${other.pid}\n`)
        const release = await claimFolder(folder)
        release()
        // A postmaster.pid naming a process that is not PostgreSQL is stale too.
        await mkdir(join(folder, 'pgdata'))
        await writeFile(join(folder, 'pgdata/postmaster.pid'), `${other.pid}\n/x\n1\n5432\n`)
        expect(await runningPostgres(join(folder, 'pgdata'))).toBeUndefined()
      } finally {
        other.kill()
      }
    },
  )

  it.runIf(process.platform === 'linux')(
    'tells a PostgreSQL on this data from one on other data that now has the pid of a stale postmaster.pid, and removes only the stale file',
    async () => {
      const data = join(folder, 'pgdata')
      const elsewhere = join(folder, 'elsewhere')
      await mkdir(data)
      await mkdir(elsewhere)
      // Stand-ins for postmasters (their command line says postgres): one works in the data
      // folder, as a postmaster does, the other in another folder.
      const fake = (cwd: string) =>
        spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)', 'postgres'], { cwd })
      const here = fake(data)
      const there = fake(elsewhere)
      const lock = join(data, 'postmaster.pid')
      try {
        await writeFile(lock, `${there.pid}\n${data}\n1\n5432\n`)
        expect(await runningPostgres(data)).toBeUndefined()
        await removeStaleLock(data)
        await expect(stat(lock)).rejects.toThrow(/ENOENT/)

        await writeFile(lock, `${here.pid}\n${data}\n1\n5432\n`)
        expect(await runningPostgres(data)).toEqual({ pid: here.pid, port: 5432 })
        await removeStaleLock(data)
        expect((await stat(lock)).isFile()).toBe(true)
      } finally {
        here.kill()
        there.kill()
      }
    },
  )

  it('keeps a secret in a file only its owner reads, made once', async () => {
    const file = join(folder, 'token')
    const first = await keptSecret(file, () => 'first-secret-value')
    const second = await keptSecret(file, () => 'another-secret-value')
    expect([first, second]).toEqual(['first-secret-value', 'first-secret-value'])
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    // Edited by hand: its line break is not part of it; a folder in its place is named.
    await writeFile(file, 'edited-by-hand-secret\n')
    expect(await keptSecret(file, () => 'unused-secret-value')).toBe('edited-by-hand-secret')
    await rm(file)
    await mkdir(file)
    const unreadable = await keptSecret(file, () => 'unused').catch((error: unknown) => error)
    expect(isStartupError(unreadable) && unreadable.code).toBe('EMBEDDED_FAILED')
    expect((unreadable as Error).message).toBe(
      `cannot read ${file} (EISDIR): make it a file this user may read, or delete it for a new one`,
    )
  })
})
