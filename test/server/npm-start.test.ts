import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../setup/postgres.js'
import { eventually } from '../helpers/gateway.js'
import pg from 'pg'
import { isRunning, killChildren, processGroup, sluice, startProcess } from '../helpers/cli.js'

// `npm start` as a person runs it, in a process group of its own as a terminal would make:
// whatever stops it must stop every process it started (npm, the gateway, PostgreSQL).
describe.runIf(process.platform === 'linux')('npm start', () => {
  let dataDir: string
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'sluice-npm-start-'))
    // As root, PostgreSQL runs as 'postgres', which must reach the folder.
    await chmod(dataDir, 0o755)
  })
  afterEach(killChildren)
  afterAll(() => rm(dataDir, { recursive: true, force: true }))

  /** Starts `npm start` on the embedded database; resolves with every pid of its group. */
  async function npmStart() {
    const port = await freePort()
    const started = startProcess('npm', ['start'], {
      env: { PORT: String(port), SLUICE_DATA_DIR: dataDir },
      detached: true,
    })
    await started.printed(`listening on http://127.0.0.1:${port}`)
    const token = /\(set SLUICE_TOKEN to choose one\): (\S+)/.exec(started.run.stdout)![1]!
    const npm = started.child.pid!
    const postgres = Number(
      (await readFile(join(dataDir, 'pgdata/postmaster.pid'), 'utf8')).split('\n')[0],
    )
    const pids = processGroup(npm)
    // npm itself, the gateway and PostgreSQL (and PostgreSQL's own workers).
    expect(pids).toContain(npm)
    expect(pids).toContain(postgres)
    expect(pids.length).toBeGreaterThanOrEqual(3)
    return { started, npm, pids, postgres, port, token }
  }

  /** The embedded database's URL (`sluice embedded-url`: a process of its own, so read once). */
  async function embeddedUrl(): Promise<string> {
    return (await sluice(['embedded-url'], { env: { SLUICE_DATA_DIR: dataDir } })).stdout.trim()
  }

  /** How many statements sleep in the embedded database now (read through its URL). */
  async function activeSleeps(url: string): Promise<number> {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    try {
      const { rows } = await client.query(
        "select count(*)::int as n from pg_stat_activity where query like 'select pg_sleep(1.5)%' and state = 'active'",
      )
      return rows[0].n
    } finally {
      await client.end()
    }
  }

  async function expectAllGone(group: number, pids: number[]) {
    await eventually(() => processGroup(group).length === 0, 20_000)
    for (const pid of pids) expect(isRunning(pid), `pid ${pid}`).toBe(false)
  }

  it('stops the gateway and PostgreSQL when npm gets SIGTERM, and exits 0', async () => {
    const { started, npm, pids } = await npmStart()
    process.kill(npm, 'SIGTERM')
    const code = await started.exitCode
    await expectAllGone(npm, pids)
    expect(code, started.run.stdout + started.run.stderr).toBe(0)
    expect(started.run.stdout).toContain('sluice: SIGTERM: draining')
    expect(started.run.stdout).toContain('sluice: stopped')
  }, 120_000)

  it('stops everything on Ctrl-C (SIGINT to the whole group), draining once', async () => {
    const { started, npm, pids, port, token } = await npmStart()
    const url = await embeddedUrl()
    // A statement in flight keeps the drain going while npm's copy of the signal arrives.
    const inFlight = fetch(`http://127.0.0.1:${port}/v1/query`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}` },
      body: JSON.stringify({ sql: 'select pg_sleep(1.5)' }),
    }).catch((error: unknown) => error)
    // Each look is a query, not a process start, so none can miss the 1.5 s statement.
    await eventually(async () => (await activeSleeps(url)) > 0)
    // The terminal signals every process of the group; npm forwards its own copy too.
    process.kill(-npm, 'SIGINT')
    await started.exitCode
    await inFlight
    await expectAllGone(npm, pids)
    const output = started.run.stdout + started.run.stderr
    expect(output.match(/SIGINT: draining/g), output).toHaveLength(1)
    expect(output).not.toContain('again')
    expect(output).toContain('sluice: stopped')
  }, 120_000)

  it('exits 0 at once when PostgreSQL stopped first (the terminal signals it too)', async () => {
    const { started, npm, pids, postgres } = await npmStart()
    process.kill(postgres, 'SIGINT')
    await eventually(() => !isRunning(postgres), 20_000)
    process.kill(npm, 'SIGTERM')
    const code = await started.exitCode
    expect(code, started.run.stdout + started.run.stderr).toBe(0)
    expect(started.run.stdout).toContain('sluice: stopped')
    await expectAllGone(npm, pids)
  }, 120_000)
})
