import { execFileSync } from 'node:child_process'
import { chmod, chown, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../../server/config/load.js'
import { createGateway, type Gateway } from '../../../server/gateway.js'
import {
  startTemporaryPostgres,
  type TemporaryPostgres,
} from '../../../server/embedded/postgres.js'

// A PostgreSQL with TLS on, its certificate signed by a CA made here with openssl.
describe('TLS to the database', () => {
  let dir: string
  let server: TemporaryPostgres
  const gateways: Gateway[] = []
  const token = 'tls-test-token-0123456789'

  const readPem = (name: string) => readFile(join(dir, name), 'utf8')
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' })

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-tls-'))
    await chmod(dir, 0o755)
    openssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=Sluice Test CA',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
    )
    openssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=Other CA',
      '-keyout',
      'other.key',
      '-out',
      'other.pem',
    )
    openssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      '/CN=localhost',
      '-keyout',
      'server.key',
      '-out',
      'server.csr',
    )
    execFileSync('sh', ['-c', 'printf "subjectAltName=DNS:localhost,IP:127.0.0.1" > san.ext'], {
      cwd: dir,
    })
    openssl(
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      'san.ext',
      '-out',
      'server.pem',
    )
    if (process.getuid?.() === 0) {
      // PostgreSQL runs as the 'postgres' user and insists on owning a 0600 key.
      const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim() || '0')
      const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim() || '0')
      await chown(join(dir, 'server.key'), uid, gid).catch(() => {})
      await chown(join(dir, 'server.pem'), uid, gid).catch(() => {})
    }
    await chmod(join(dir, 'server.key'), 0o600)
    server = await startTemporaryPostgres({
      prefix: 'sluice-tls-pg-',
      settings: {
        ssl: 'on',
        ssl_cert_file: join(dir, 'server.pem'),
        ssl_key_file: join(dir, 'server.key'),
      },
    })
  }, 60_000)

  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.close(100)))
    await server?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  const ask = async (
    connection: Record<string, unknown>,
    sql = 'select ssl::text from pg_stat_ssl where pid = pg_backend_pid()',
    headers: Record<string, string> = {},
  ) => {
    const config = parseConfig(
      {
        tenants: {
          t: {
            allowPrivilegedRole: true,
            connection: {
              url: `postgres://postgres:${encodeURIComponent(server.password)}@localhost:${server.port}/postgres`,
              ...connection,
            },
            tokens: [{ token }],
            pool: { min: 0, max: 1 },
          },
        },
      },
      {},
    )
    const gateway = createGateway(config)
    gateways.push(gateway)
    const res = await gateway.app.request('/v1/query', {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, ...headers },
      body: JSON.stringify({ sql }),
    })
    const text = await res.text()
    return { status: res.status, body: JSON.parse(text.split('\n')[0]!) as any, text }
  }

  it('verifies the server against a CA with sslmode verify-full', async () => {
    const { status, body } = await ask({
      sslmode: 'verify-full',
      ca: await readPem('ca.pem'),
    })
    expect(status).toBe(200)
    expect(body.rows).toEqual([['true']])
  })

  it('encrypts without verifying with sslmode require', async () => {
    const { status, body } = await ask({ sslmode: 'require' })
    expect(status).toBe(200)
    expect(body.rows).toEqual([['true']])
  })

  it('refuses a server signed by another CA, as DB_UNAVAILABLE', async () => {
    const { status, body } = await ask({ sslmode: 'verify-full', ca: await readPem('other.pem') })
    expect(status).toBe(503)
    expect(body.error.code).toBe('DB_UNAVAILABLE')
  })

  it('connects in plain text with sslmode disable', async () => {
    const { status, body } = await ask({ sslmode: 'disable' })
    expect(status).toBe(200)
    expect(body.rows).toEqual([['false']])
  })

  it('counts the rows a TLS connection carries: a 600 MiB value is refused, never buffered', async () => {
    // Without the wire meter on the TLS socket, pg would buffer the value and crash this
    // process with ERR_STRING_TOO_LONG.
    const { status, body } = await ask(
      { sslmode: 'require' },
      "select repeat('x', 600 * 1024 * 1024)",
    )
    expect(status).toBe(413)
    expect(body.error.code).toBe('RESULT_TOO_LARGE')
  })

  it('streams over a TLS connection', async () => {
    const { status, text } = await ask(
      { sslmode: 'require' },
      "select n, repeat('x', 100) from (select generate_series(1, 20000) as n) s",
      { Accept: 'application/x-ndjson' },
    )
    expect(status).toBe(200)
    const lines = text.trimEnd().split('\n')
    expect(lines).toHaveLength(20_002)
    expect(JSON.parse(lines.at(-1)!)).toEqual({ command: 'SELECT', rowCount: 20_000 })
  })
})
