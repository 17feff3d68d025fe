import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { chmod, mkdtemp, readlink, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { freePort } from '../setup/postgres.js'

const main = fileURLToPath(new URL('../../server/main.ts', import.meta.url))
const tsx = import.meta.resolve('tsx')

interface Started {
  child: ChildProcess
  output: () => string
  exited: Promise<number | null>
}

// `npm start` with neither a config file nor DATABASE_URL, in a fresh directory.
async function start(cwd: string, port: number): Promise<Started> {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port) }
  delete env.DATABASE_URL
  delete env.SLUICE_CONFIG
  delete env.SLUICE_TOKEN
  const child = spawn(process.execPath, ['--import', tsx, main], {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout!.on('data', (chunk) => (output += chunk))
  child.stderr!.on('data', (chunk) => (output += chunk))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  const deadline = Date.now() + 60_000
  while (!output.includes(`listening on http://127.0.0.1:${port}`)) {
    if (Date.now() > deadline || child.exitCode !== null)
      throw new Error(`did not start: ${output}`)
    await new Promise((r) => setTimeout(r, 100))
  }
  return { child, output: () => output, exited }
}

describe('embedded default', () => {
  let cwd: string
  afterAll(async () => {
    if (cwd) await rm(cwd, { recursive: true, force: true })
  })

  it('runs a real PostgreSQL in ./.sluice/, prints a curl line that works as printed, and keeps data across restarts', async () => {
    cwd = await mkdtemp(join(tmpdir(), 'sluice-embedded-'))
    // As root, PostgreSQL runs as 'postgres', which must reach the folder (mkdtemp makes 0700).
    await chmod(cwd, 0o755)
    const port = await freePort()
    const first = await start(cwd, port)
    const curl = first
      .output()
      .split('\n')
      .find((line) => line.includes('curl '))!
      .replace(/^.*?curl /, 'curl ')
    const { stdout } = await promisify(execFile)('sh', ['-c', curl])
    expect(JSON.parse(stdout)).toMatchObject({ command: 'SELECT', rowCount: 1 })
    const token = /Bearer ([^']+)'/.exec(curl)![1]!
    const post = (sql: string) =>
      fetch(`http://127.0.0.1:${port}/v1/query`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}` },
        body: JSON.stringify({ sql }),
      }).then((r) => r.json() as Promise<any>)
    await post('create table kept (note text)')
    await post("insert into kept values ('still here')")
    first.child.kill('SIGTERM')
    expect(await first.exited).toBe(0)
    expect((await stat(join(cwd, '.sluice', 'pgdata', 'PG_VERSION'))).isFile()).toBe(true)

    const second = await start(cwd, port)
    const newToken = /Bearer ([^']+)'/.exec(second.output())![1]!
    const answer = await fetch(`http://127.0.0.1:${port}/v1/query`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${newToken}` },
      body: JSON.stringify({ sql: 'select note from kept' }),
    }).then((r) => r.json() as Promise<any>)
    expect(answer.rows).toEqual([['still here']])
    second.child.kill('SIGINT')
    expect(await second.exited).toBe(0)
  }, 120_000)

  it.runIf(process.getuid?.() === 0)(
    "keeps the data outside a folder the 'postgres' user cannot enter, linked from ./.sluice/pgdata",
    async () => {
      const closed = await mkdtemp(join(tmpdir(), 'sluice-closed-'))
      const port = await freePort()
      try {
        const started = await start(closed, port)
        const link = await readlink(join(closed, '.sluice', 'pgdata'))
        expect(link.startsWith('/var/lib/sluice/')).toBe(true)
        started.child.kill('SIGTERM')
        expect(await started.exited).toBe(0)
        await rm(dirname(link), { recursive: true, force: true })
      } finally {
        await rm(closed, { recursive: true, force: true })
      }
    },
    120_000,
  )
})
