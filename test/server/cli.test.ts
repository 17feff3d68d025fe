import { createHash } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../setup/postgres.js'
import { databaseUrl, eventually, newToken } from '../helpers/gateway.js'
import { killChildren, sluice as runSluice, startProcess, startSluice } from '../helpers/cli.js'
import { TOKEN_TOO_SHORT } from '../../server/config/schema.js'

/** Runs `sluice ARGS` with `env` (none of the database variables inherited). */
function sluice(args: string[], env: Record<string, string> = {}) {
  return runSluice(args, { env })
}

/** Starts `sluice ARGS` with `env`. */
function start(args: string[], env: Record<string, string> = {}) {
  return startSluice(args, { env })
}

afterEach(killChildren)

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
    const [main, serve, check, token, url] = await Promise.all([
      sluice(['--help']),
      sluice(['serve', '--help']),
      sluice(['check-config', '--help']),
      sluice(['help', 'token']),
      sluice(['embedded-url', '--help']),
    ])
    expect(main.code).toBe(0)
    for (const command of ['serve', 'check-config FILE', 'token', 'embedded-url'])
      expect(main.stdout).toContain(command)
    expect(url.code).toBe(0)
    expect(url.stdout).toContain('psql "$(npm start --silent -- embedded-url)"')
    for (const text of ['SLUICE_DATA_DIR', 'SLUICE_DEBUG', 'delete ./.sluice to start over'])
      expect(serve.stdout).toContain(text)
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

  it("checks the environment's overrides as the start does", async () => {
    const file = await configFile('env-overrides.json', {
      tenants: {
        acme: { connection: { url: 'postgres://app:pw@db/app' }, tokens: [{ token: newToken() }] },
      },
    })
    const bad = await sluice(['check-config', file], { PORT: 'abc' })
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('PORT')
    const tooManyWorkers = await sluice(['check-config', file], { SLUICE_WORKERS: '16' })
    expect(tooManyWorkers.code).toBe(2)
    expect(tooManyWorkers.stderr).toContain(
      'tenants.acme.pool.max (10) is less than the 16 workers',
    )
    const good = await sluice(['check-config', file], { PORT: '9099' })
    expect(good.code, good.stderr).toBe(0)
    expect(JSON.parse(good.stdout).server.port).toBe(9099)
  })

  it("counts each worker's query-cache connection in the connection budget", async () => {
    const file = await configFile('workers-cache.json', {
      server: { workers: 2, cacheSecret: 'c'.repeat(32) },
      tenants: {
        acme: {
          connection: { url: 'postgres://app:pw@db/app' },
          pool: { min: 0, max: 4 },
          cache: { enabled: true },
          tokens: [{ token: newToken() }],
        },
      },
    })
    const run = await sluice(['check-config', file])
    expect(run.code, run.stderr).toBe(0)
    expect(run.stderr).toContain(
      'at most 6 PostgreSQL connections from this instance (the sum of pool.max, plus 1 for query caches in each of 2 worker processes)',
    )
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

  it('warns at start-up when the open-files limit cannot hold server.maxClientConnections and the pools', async () => {
    const port = await freePort()
    const limited = startProcess(
      'sh',
      ['-c', `ulimit -n 300 && exec "${process.execPath}" --import tsx server/main.ts`],
      { env: { DATABASE_URL: databaseUrl(), PORT: String(port), SLUICE_DRAIN_GRACE_MS: '0' } },
    )
    await limited.printed('listening on', 20_000)
    expect(limited.run.stdout).toContain(
      'sluice: warning: the open-files limit (300) is below server.maxClientConnections (10000)',
    )
    limited.child.kill('SIGTERM')
    await limited.exited
    const roomy = start([], {
      DATABASE_URL: databaseUrl(),
      PORT: String(await freePort()),
      SLUICE_DRAIN_GRACE_MS: '0',
    })
    await roomy.printed('listening on', 20_000)
    expect(roomy.run.stdout).not.toContain('open-files limit')
    roomy.child.kill('SIGTERM')
    await roomy.exited
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
      allowPrivilegedRole: true,
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

describe('sluice serve: configuration problems exit 2, every one at once', () => {
  const refusedUrls: [string, string][] = [
    ['not a url at all', 'does not start with postgres://'],
    ['mysql://app:pw@db/app', 'uses the scheme mysql://'],
    ['postgres://db:99999/app', 'has port 99999, out of range'],
    ['postgres://db:notaport/app', 'has a port that is not a number'],
    ['postgres:///app', 'has no host'],
    ['postgres://db/app?sslmode=prefer', 'sslmode prefer is refused'],
  ]

  it.each(refusedUrls)('names DATABASE_URL when it is %s', async (url, problem) => {
    const run = await sluice([], { DATABASE_URL: url, SLUICE_TOKEN: newToken() })
    expect(run.code).toBe(2)
    const lines = run.stderr.trim().split('\n')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/^sluice: config: DATABASE_URL \(".*"\): /)
    expect(lines[0]).toContain(problem)
  })

  it("refuses short SLUICE_TOKEN and SLUICE_ADMIN_TOKEN with the config tokens' message, with the other problems", async () => {
    const run = await sluice([], {
      DATABASE_URL: 'postgres://app:Zq9-secret-pw@db:99999/app',
      SLUICE_TOKEN: 'short',
      SLUICE_ADMIN_TOKEN: 'short-admin',
      PORT: 'eighty',
    })
    expect(run.code).toBe(2)
    expect(run.stderr.trim().split('\n')).toEqual([
      'sluice: config: PORT ("eighty") must be a port number from 0 to 65535',
      `sluice: config: SLUICE_ADMIN_TOKEN ("[redacted]"): ${TOKEN_TOO_SHORT}`,
      `sluice: config: SLUICE_TOKEN ("[redacted]"): ${TOKEN_TOO_SHORT}`,
      'sluice: config: DATABASE_URL ("postgres://app:[redacted]@db:99999/app"): has port 99999, out of range: use 1 to 65535 (PostgreSQL\'s is 5432)',
    ])
    for (const secret of ['Zq9-secret-pw', 'short-admin']) expect(run.stderr).not.toContain(secret)
  })

  it("lists a config file's problems, a missing variable included, with the environment's", async () => {
    const file = await configFile('many-problems.json', {
      tenants: {
        acme: {
          connection: { url: 'postgres://app:${ACME_DB_PASSWORD}@db:5432/app?sslmode=allow' },
          tokens: [{ token: '${ACME_TOKEN}' }],
          pool: { min: 20, max: 10 },
        },
        beta: { connection: { url: 'mysql://db/app' }, tokens: [{ token: 'short' }] },
      },
    })
    const run = await sluice(['--config', file], { SLUICE_LOG_LEVEL: 'loud' })
    expect(run.code).toBe(2)
    const lines = run.stderr.trim().split('\n')
    expect(lines).toHaveLength(7)
    for (const line of lines) expect(line).toMatch(/^sluice: config: /)
    for (const expected of [
      'tenants.acme.connection.url: environment variable ACME_DB_PASSWORD is not set',
      'tenants.acme.tokens.0.token: environment variable ACME_TOKEN is not set',
      'tenants.beta.tokens.0.token ("[redacted]"): must be at least 16 characters',
      'tenants.acme.pool.min (20) is greater than tenants.acme.pool.max (10)',
      'tenants.acme.connection.url ("postgres://app:[redacted]@db:5432/app?sslmode=allow"): sslmode allow is refused',
      'tenants.beta.connection.url ("mysql://db/app"): uses the scheme mysql://',
      'SLUICE_LOG_LEVEL ("loud") must be one of',
    ])
      expect(run.stderr).toContain(expected)
  })
})

describe('sluice serve: failures to start exit 1 with the cause in one line', () => {
  it('names the port in use, closes its pools and exits by itself', async () => {
    const taken = createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    const { port } = taken.address() as { port: number }
    try {
      const env = { DATABASE_URL: databaseUrl(), SLUICE_TOKEN: newToken(), PORT: String(port) }
      const run = await sluice([], env)
      expect(run.code).toBe(1)
      expect(run.stderr.trim()).toBe(
        `sluice: cannot start: port ${port} on 127.0.0.1 is already in use (another Sluice, or another server): stop it, or choose another port with PORT=N`,
      )
      // SLUICE_DEBUG adds the detail after the same line, never instead of it.
      const debug = await sluice([], { ...env, SLUICE_DEBUG: '1' })
      expect(debug.code).toBe(1)
      const [first, ...rest] = debug.stderr.trim().split('\n')
      expect(first).toBe(run.stderr.trim())
      expect(rest.join('\n')).toContain('EADDRINUSE')
    } finally {
      taken.close()
    }
  })

  it("never prints the pg driver's own warning about sslmode", async () => {
    const port = await freePort()
    const url = new URL(databaseUrl())
    url.searchParams.set('sslmode', 'require')
    const { child, exited, printed } = start([], {
      DATABASE_URL: url.toString(),
      SLUICE_TOKEN: newToken(),
      SLUICE_LOG_LEVEL: 'silent',
      PORT: String(port),
    })
    await printed('listening on')
    child.kill('SIGTERM')
    const run = await exited
    expect([run.code, run.signal], run.stdout + run.stderr).toEqual([0, null])
    expect(`${run.stdout}${run.stderr}`).not.toContain('SECURITY WARNING')
    expect(`${run.stdout}${run.stderr}`).not.toContain(url.password)
  })
})

describe('sluice check-config: secrets in every spelling', () => {
  // @, : and / inside the password, sent raw, percent-encoded and as the URL standard has it.
  const password = 'Kx7@mz:Q9/vv%Yt'
  const encoded = encodeURIComponent(password)
  const pieces = [password, encoded, 'mz:Q9', 'Q9/vv', 'vv%Yt', 'Kx7%40', '%3AQ9', 'Yt']

  function expectNowhere(text: string) {
    for (const piece of pieces) expect(text).not.toContain(piece)
  }

  it("redacts a valid config's passwords in the JSON and the summary", async () => {
    const file = await configFile('spellings.json', {
      tenants: {
        raw: {
          // Raw but for the two characters a URL cannot hold unencoded there.
          connection: {
            url: `postgres://app:${password.replace('%', '%25').replace('/', '%2F')}@db/a`,
          },
          tokens: [{ token: newToken() }],
        },
        encoded: {
          connection: { url: `postgresql://app:${encoded}@db/b` },
          tokens: [{ token: newToken() }],
        },
        field: { connection: { host: 'db', password }, tokens: [{ token: newToken() }] },
      },
    })
    const run = await sluice(['check-config', file])
    expect(run.code, run.stderr).toBe(0)
    expectNowhere(`${run.stdout}\n${run.stderr}`)
    expect(run.stderr).toContain('tenant encoded: pool min 4, max 10, database app@db:5432/b')
  })

  it('redacts the passwords of invalid URLs too, and summarises nothing', async () => {
    // The URL standard leaves the % alone: that URL is refused, its password still hidden.
    const url = new URL('postgres://app@db.internal:5432/app')
    url.password = password
    const file = await configFile('spellings-invalid.json', {
      tenants: {
        standard: { connection: { url: url.toString() }, tokens: [{ token: newToken() }] },
        noscheme: { connection: { url: `app:${password}@db/a` }, tokens: [{ token: newToken() }] },
        badport: {
          connection: { url: `postgres://app:${encoded}@db:99999/b` },
          tokens: [{ token: newToken() }],
        },
        cut: {
          connection: { url: `postgres://app:${password}@db/c` },
          tokens: [{ token: newToken() }],
        },
      },
    })
    const run = await sluice(['check-config', file])
    expect(run.code).toBe(2)
    expect(run.stdout).toBe('')
    expectNowhere(run.stderr)
    expect(run.stderr).toContain(
      'tenants.noscheme.connection.url ("app:[redacted]@db/a"): does not start with postgres://',
    )
    expect(run.stderr).toContain(
      'tenants.badport.connection.url ("postgres://app:[redacted]@db:99999/b"): has port 99999',
    )
    expect(run.stderr).toContain(
      'tenants.cut.connection.url ("postgres://app:[redacted]@db/c"): has an @ after the host',
    )
    expect(run.stderr).toContain(
      'tenants.standard.connection.url ("postgres://app:[redacted]@db.internal:5432/app"): the password has a % that does not start a percent-encoding',
    )
    expect(run.stderr).not.toContain('postgres@127.0.0.1:5432/postgres')
  })
})
