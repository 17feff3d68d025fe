import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../setup/postgres.js'
import { databaseUrl, eventually, newToken } from '../helpers/gateway.js'

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

const children = new Set<ChildProcess>()

/** Starts `sluice ARGS` (server/main.ts through tsx), as `npm start -- ARGS` does. */
function start(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts', ...args], {
    env: { ...process.env, DATABASE_URL: '', SLUICE_CONFIG: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.add(child)
  const run = { stdout: '', stderr: '' }
  child.stdout!.on('data', (chunk) => (run.stdout += chunk))
  child.stderr!.on('data', (chunk) => (run.stderr += chunk))
  const exited = new Promise<Run>((resolve) =>
    child.on('exit', (code) => {
      children.delete(child)
      resolve({ code, ...run })
    }),
  )
  return { child, run, exited }
}

function sluice(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return start(args, env).exited
}

afterEach(() => {
  for (const child of children) child.kill('SIGKILL')
})

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-cli-'))
})
afterAll(() => rm(dir, { recursive: true, force: true }))

async function configFile(name: string, document: unknown): Promise<string> {
  const file = join(dir, name)
  await writeFile(file, JSON.stringify(document))
  return file
}

describe('sluice --help', () => {
  it('lists the commands, and each command has its own help', async () => {
    const [main, serve, check, token] = await Promise.all([
      sluice(['--help']),
      sluice(['serve', '--help']),
      sluice(['check-config', '--help']),
      sluice(['help', 'token']),
    ])
    expect(main.code).toBe(0)
    for (const command of ['serve', 'check-config FILE', 'token'])
      expect(main.stdout).toContain(command)
    expect(serve.code).toBe(0)
    expect(serve.stdout).toContain('SIGHUP')
    expect(check.code).toBe(0)
    expect(check.stdout).toContain('Usage: sluice check-config FILE')
    expect(token.code).toBe(0)
    expect(token.stdout).toContain('Usage: sluice token')
  })

  it('exits 2 on an unknown command', async () => {
    const run = await sluice(['frobnicate'])
    expect(run.code).toBe(2)
    expect(run.stderr).toContain('unknown command "frobnicate"')
  })
})

describe('sluice token', () => {
  it('prints a new token and its sha256 for the config', async () => {
    const run = await sluice(['token', '--json', '--role', 'readonly'])
    expect(run.code).toBe(0)
    const { token, sha256, role } = JSON.parse(run.stdout)
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(sha256).toBe(createHash('sha256').update(token).digest('hex'))
    expect(role).toBe('readonly')
    const text = await sluice(['token'])
    const hash = /sha256: ([0-9a-f]{64})/.exec(text.stdout)![1]
    const plain = /token: +(\S+)/.exec(text.stdout)![1]!
    expect(hash).toBe(createHash('sha256').update(plain).digest('hex'))
    expect(text.stdout).toContain(`"tokens": [{ "sha256": "${hash}", "role": "readwrite" }]`)
  })
})

describe('sluice check-config', () => {
  it('prints the resolved config with secrets redacted', async () => {
    const token = newToken()
    const file = await configFile('valid.json', {
      server: { adminToken: '${TEST_ADMIN_TOKEN}' },
      tenants: {
        acme: {
          connection: { url: 'postgres://app:cli-secret-pw@db.internal:5432/app' },
          tokens: [{ token }],
        },
      },
    })
    const run = await sluice(['check-config', file], {
      TEST_ADMIN_TOKEN: 'admin-secret-0123456789',
    })
    expect(run.code, run.stderr).toBe(0)
    const printed = JSON.parse(run.stdout)
    expect(printed.tenants.acme.pool).toMatchObject({ min: 4, max: 10 })
    expect(printed.tenants.acme.connection.url).toBe(
      'postgres://app:[redacted]@db.internal:5432/app',
    )
    expect(printed.server.adminToken).toBe('[redacted]')
    for (const secret of ['cli-secret-pw', token, 'admin-secret-0123456789']) {
      expect(run.stdout).not.toContain(secret)
      expect(run.stderr).not.toContain(secret)
    }
    expect(run.stderr).toContain(
      'tenant acme: pool min 4, max 10, database app@db.internal:5432/app',
    )
  })

  it('exits 2 with one line per problem when the config is invalid', async () => {
    const file = await configFile('invalid.json', {
      tenants: {
        acme: {
          connection: { url: 'postgres://app:pw@db/app' },
          pool: { min: 20, max: 10, bogus: 1 },
          tokens: [{ token: 'short' }],
        },
      },
    })
    const run = await sluice(['check-config', file])
    expect(run.code).toBe(2)
    expect(run.stdout).toBe('')
    const lines = run.stderr.trim().split('\n')
    expect(lines.length).toBeGreaterThanOrEqual(2)
    for (const line of lines) expect(line).toMatch(/^sluice: config: /)
    expect(run.stderr).toContain('tenants.acme.pool')
    expect(run.stderr).toContain('tenants.acme.tokens.0.token')
  })

  it('exits 2 when the file is missing', async () => {
    const run = await sluice(['check-config', join(dir, 'nope.json')])
    expect(run.code).toBe(2)
    expect(run.stderr).toContain('no such file')
  })
})

describe('sluice serve', () => {
  it('exits 2 with one line per problem on an invalid config', async () => {
    const run = await sluice(['serve'], { PORT: 'eighty', DATABASE_URL: databaseUrl() })
    expect(run.code).toBe(2)
    expect(run.stderr.trim()).toBe(
      'sluice: config: PORT ("eighty") must be a port number from 0 to 65535',
    )
  })

  it('prints a start-up summary, reloads the config file on SIGHUP, refuses an invalid one, and drains on SIGTERM', async () => {
    const port = await freePort()
    const adminToken = newToken()
    const first = newToken()
    const second = newToken()
    const tenant = (token: string) => ({
      connection: { url: databaseUrl() },
      pool: { min: 1, max: 2 },
      tokens: [{ token }],
    })
    const file = await configFile('serve.json', {
      server: { adminToken, log: { level: 'warn' } },
      tenants: { one: tenant(first) },
    })
    const { child, run, exited } = start(['--config', file], { PORT: String(port) })
    const base = `http://127.0.0.1:${port}`
    await eventually(() => run.stdout.includes(`listening on ${base}`), 20_000)
    expect(run.stdout).toContain('sluice: tenant one: pool min 1, max 2')
    expect(run.stdout).toContain(`sluice: metrics: ${base}/metrics`)
    expect(run.stdout).toContain(`sluice: admin API: ${base}/admin/tenants`)

    const query = (token: string) =>
      fetch(`${base}/v1/query`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}` },
        body: JSON.stringify({ sql: 'select 1' }),
      }).then((res) => res.status)
    expect(await query(first)).toBe(200)
    expect(await query(second)).toBe(401)

    await writeFile(
      file,
      JSON.stringify({
        server: { adminToken, log: { level: 'warn' } },
        tenants: { one: tenant(first), two: tenant(second) },
      }),
    )
    child.kill('SIGHUP')
    await eventually(() => run.stdout.includes('sluice: config reloaded'))
    expect(await query(second)).toBe(200)

    await writeFile(file, '{ "tenants": ')
    child.kill('SIGHUP')
    await eventually(() => run.stderr.includes('sluice: reload refused'))
    expect(run.stderr).toContain('not valid JSON')
    expect(await query(first)).toBe(200)
    expect(await query(second)).toBe(200)
    const tenants = await fetch(`${base}/admin/tenants`, {
      headers: { Authorization: `Bearer ${adminToken}` },
    }).then((res) => res.json() as Promise<any>)
    expect(tenants.tenants.map((t: any) => t.name)).toEqual(['one', 'two'])
    const metrics = await fetch(`${base}/metrics`).then((res) => res.text())
    expect(metrics).toContain('process_cpu_user_seconds_total')
    expect(metrics).toContain('sluice_config_reloads_total{result="invalid"} 1')

    child.kill('SIGTERM')
    const result = await exited
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toContain('sluice: stopped')
    const password = new URL(databaseUrl()).password
    for (const secret of [password, adminToken, first, second]) {
      expect(result.stdout).not.toContain(secret)
      expect(result.stderr).not.toContain(secret)
    }
  })
})
