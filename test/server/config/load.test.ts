import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfigFile, parseConfig } from '../../../server/config/load.js'
import { configJsonSchemaText } from '../../../server/config/json-schema.js'
import { hashToken } from '../../../server/tenants/tokens.js'

const token = 'a-token-of-enough-length'
const tenant = (extra: Record<string, unknown> = {}) => ({
  connection: { url: 'postgres://app:s3cret-pw@db:5432/app' },
  tokens: [{ token }],
  ...extra,
})

const problems = (document: unknown, env: Record<string, string> = {}): string[] => {
  try {
    parseConfig(document, env)
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return (error as ConfigError).problems
  }
  throw new Error('expected the config to be refused')
}

describe('config', () => {
  it('fills in defaults close to psycopg_pool', () => {
    const config = parseConfig({ tenants: { acme: tenant() } }, {})
    expect(config.server).toMatchObject({ host: '127.0.0.1', port: 8080 })
    expect(config.tenants.acme!.pool).toEqual({
      min: 4,
      max: 10,
      acquireTimeoutMs: 30_000,
      maxWaiting: 0,
      maxLifetimeSeconds: 3600,
      maxIdleSeconds: 600,
      healthCheckAfterIdleMs: 30_000,
      holdWarningMs: 60_000,
      prepareThreshold: null,
      preparedMax: 100,
    })
    expect(config.tenants.acme!.session).toEqual({
      timeZone: 'UTC',
      applicationName: 'sluice',
    })
    expect(config.tenants.acme!.tokens[0]).toEqual({ token, role: 'readwrite' })
  })

  it('says what became of keys that earlier versions knew', () => {
    expect(
      problems({
        server: { shutdownGraceMs: 5000 },
        tenants: { acme: tenant({ session: { resetMode: 'always' } }) },
      }),
    ).toEqual([
      'server.shutdownGraceMs: renamed: write it as server.drainGraceMs (docs/configuration.md)',
      'tenants.acme.session.resetMode: removed: every session is now reset after every borrow, whatever ran (docs/pooling.md): delete the key',
    ])
  })

  it('names the path and both values when min is greater than max', () => {
    expect(problems({ tenants: { acme: tenant({ pool: { min: 20, max: 10 } }) } })).toEqual([
      'tenants.acme.pool.min (20) is greater than tenants.acme.pool.max (10): lower min or raise max',
    ])
  })

  it('gives one line per problem, naming the path, the value and the fix', () => {
    const lines = problems({
      tenants: {
        acme: tenant({
          pool: { max: 0, acquireTimeoutMs: 'soon' },
          statementTimeoutMs: -1,
          colour: 'blue',
        }),
      },
    })
    expect(lines).toHaveLength(4)
    expect(lines.some((l) => l.startsWith('tenants.acme.pool.max (0):'))).toBe(true)
    expect(lines.some((l) => l.startsWith('tenants.acme.pool.acquireTimeoutMs ("soon"):'))).toBe(
      true,
    )
    expect(lines.some((l) => l.startsWith('tenants.acme.statementTimeoutMs (-1):'))).toBe(true)
    expect(lines).toContain(
      'tenants.acme: unknown key "colour" (remove it, or check the spelling in docs/configuration.md)',
    )
  })

  it('reports cross-key problems together with the schema problems, in one round', () => {
    const lines = problems({
      tenants: { acme: tenant({ pool: { min: 20 }, tokens: [{ token: 'short' }] }) },
    })
    expect(lines).toHaveLength(2)
    expect(lines[0]).toMatch(
      /^tenants\.acme\.tokens\.0\.token \("\[redacted\]"\): must be at least 16/,
    )
    expect(lines[1]).toBe(
      'tenants.acme.pool.min (20) is greater than tenants.acme.pool.max (10): lower min or raise max',
    )
  })

  it('substitutes ${ENV} and reports a missing variable by path', () => {
    const config = parseConfig(
      { tenants: { acme: tenant({ tokens: [{ token: '${ACME_TOKEN}' }] }) } },
      { ACME_TOKEN: 'from-the-environment-123' },
    )
    expect(config.tenants.acme!.tokens[0]).toMatchObject({ token: 'from-the-environment-123' })
    expect(problems({ tenants: { acme: tenant({ tokens: [{ token: '${NOPE}' }] }) } })).toEqual([
      'tenants.acme.tokens.0.token: environment variable NOPE is not set (export it, or write the value)',
    ])
  })

  it('reports a missing variable together with every other problem, each once', () => {
    const lines = problems({
      tenants: {
        acme: tenant({
          connection: { url: 'postgres://app:${DB_PASSWORD}@db:99999/app' },
          tokens: [{ token: '${ACME_TOKEN}' }],
          pool: { min: 20 },
          colour: 'blue',
        }),
        beta: { connection: { url: 'mysql://db/app' }, tokens: [{ token: 'short' }] },
      },
    })
    expect(lines).toEqual([
      'tenants.acme.connection.url: environment variable DB_PASSWORD is not set (export it, or write the value)',
      'tenants.acme.tokens.0.token: environment variable ACME_TOKEN is not set (export it, or write the value)',
      'tenants.acme: unknown key "colour" (remove it, or check the spelling in docs/configuration.md)',
      'tenants.beta.tokens.0.token ("[redacted]"): must be at least 16 characters (generate one with `npm start -- token`)',
      'tenants.acme.pool.min (20) is greater than tenants.acme.pool.max (10): lower min or raise max',
      // The rest of a URL around a missing variable is still checked.
      'tenants.acme.connection.url ("postgres://app:[redacted]@db:99999/app"): has port 99999, out of range: use 1 to 65535 (PostgreSQL\'s is 5432)',
      'tenants.beta.connection.url ("mysql://db/app"): uses the scheme mysql://: Sluice speaks to PostgreSQL only (postgres:// or postgresql://)',
    ])
  })

  it('checks each connection URL in full, naming the key', () => {
    const url = (value: string, extra: Record<string, unknown> = {}) =>
      problems({ tenants: { acme: tenant({ connection: { url: value, ...extra } }) } })
    expect(url('not a url at all')).toEqual([
      'tenants.acme.connection.url ("not a url at all"): does not start with postgres:// (write postgres://user:password@host:5432/database)',
    ])
    expect(url('postgres://app:pw@db:notaport/app')).toEqual([
      'tenants.acme.connection.url ("postgres://app:[redacted]@db:notaport/app"): has a port that is not a number: write host:5432',
    ])
    expect(url('postgres://db:99999/app')[0]).toContain('has port 99999, out of range')
    expect(url('postgres://db/app?sslmode=prefer')[0]).toContain('sslmode prefer is refused')
    // The host may come from its own field.
    expect(
      parseConfig(
        { tenants: { acme: tenant({ connection: { url: 'postgres:///app', host: 'db' } }) } },
        {},
      ).tenants.acme!.connection.host,
    ).toBe('db')
  })

  it('refuses sslmode prefer in its own field with the reason, and verify-ca without a CA', () => {
    const field = problems({
      tenants: { acme: tenant({ connection: { host: 'db', sslmode: 'prefer' } }) },
    })
    expect(field).toHaveLength(1)
    expect(field[0]).toMatch(
      /^tenants\.acme\.connection\.sslmode \("prefer"\): sslmode prefer is refused: .*cannot fall back/,
    )
    for (const connection of [
      { host: 'db', sslmode: 'verify-ca' },
      { url: 'postgres://db/app?sslmode=verify-ca' },
    ]) {
      expect(problems({ tenants: { acme: tenant({ connection }) } })).toEqual([
        'tenants.acme.connection: sslmode verify-ca needs the CA (ca or caFile): without one, any certificate a public CA signed for anyone would pass; use verify-full to check the host name instead',
      ])
    }
  })

  it('never shows a secret in a message', () => {
    const lines = problems({
      tenants: {
        acme: {
          connection: { url: 'postgres://app:s3cret-pw@db/app', password: 42 },
          tokens: [{ token: 'short-secret' }],
        },
      },
    })
    const text = lines.join('\n')
    expect(text).toContain('tenants.acme.tokens.0.token ("[redacted]")')
    expect(text).not.toContain('short-secret')
    expect(text).not.toContain('s3cret-pw')
  })

  it('never shows a secret written in the wrong shape or place', () => {
    const secret = 'a-secret-of-enough-length-0123456789'
    const lines = [
      ...problems({ tenants: { acme: tenant({ tokens: [secret] }) } }),
      ...problems({ tenants: { acme: tenant({ tokens: secret }) } }),
      ...problems({ server: { cluster: secret }, tenants: { acme: tenant() } }),
      ...problems({
        tenants: {
          acme: tenant({ connection: { url: `postgres://app@db/app?password=${secret}` } }),
        },
      }),
    ]
    expect(lines).toHaveLength(4)
    expect(lines.join('\n')).not.toContain(secret)
    expect(lines[0]).toContain('tenants.acme.tokens.0 ("[redacted]")')
    expect(lines[3]).toContain('?password=[redacted]')
  })

  it('accepts sha256-hashed tokens and refuses a token used twice', () => {
    const config = parseConfig(
      { tenants: { acme: tenant({ tokens: [{ sha256: hashToken(token), role: 'readonly' }] }) } },
      {},
    )
    expect(config.tenants.acme!.tokens[0]).toMatchObject({ role: 'readonly' })
    const lines = problems({ tenants: { a: tenant(), b: tenant() } })
    expect(lines[0]).toContain('tenants.b.tokens.0')
    expect(lines[0]).toContain('unique')
  })

  it('refuses a tenant token that is also the admin token or a server secret, in any spelling', () => {
    const secret = 'a-server-secret-of-32-characters'
    const cases: [string, Record<string, unknown>][] = [
      ['server.adminToken', { adminToken: secret }],
      ['server.cluster.secret', { cluster: { secret, peers: ['10.0.0.2:8080'] } }],
      ['server.cacheSecret', { cacheSecret: secret }],
    ]
    for (const [at, server] of cases) {
      for (const tokens of [[{ token: secret }], [{ sha256: hashToken(secret).toUpperCase() }]]) {
        const lines = problems({ server, tenants: { acme: tenant({ tokens }) } })
        expect(lines.join('\n'), at).toContain(`tenants.acme.tokens.0 ("[redacted]") is also ${at}`)
        expect(lines.join('\n')).not.toContain(secret)
      }
    }
  })

  it('refuses a token given as itself in one place and as its sha256 in another', () => {
    const hashed = { sha256: hashToken(token).toUpperCase(), role: 'readonly' as const }
    for (const [a, b] of [
      [tenant(), tenant({ tokens: [hashed] })],
      [tenant({ tokens: [hashed] }), tenant()],
    ]) {
      const lines = problems({ tenants: { a, b } })
      expect(lines[0]).toContain('tenants.b.tokens.0')
      expect(lines[0]).toContain('unique')
    }
    const within = problems({ tenants: { a: tenant({ tokens: [{ token }, hashed] }) } })
    expect(within[0]).toContain('tenants.a.tokens.1')
  })

  it('requires a url or a host, and at least one tenant', () => {
    expect(problems({ tenants: { acme: { connection: {}, tokens: [{ token }] } } })[0]).toContain(
      'tenants.acme.connection needs a url or a host',
    )
    expect(problems({ tenants: {} })[0]).toContain('needs at least one tenant')
  })

  it('reads a file and explains bad JSON', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-config-'))
    const file = join(dir, 'sluice.json')
    await writeFile(file, JSON.stringify({ tenants: { acme: tenant() } }))
    expect((await loadConfigFile(file, {})).tenants.acme).toBeDefined()
    await writeFile(file, '{ "tenants": ')
    await expect(loadConfigFile(file, {})).rejects.toThrow(/not valid JSON/)
    await expect(loadConfigFile(join(dir, 'missing.json'), {})).rejects.toThrow(/no such file/)
  })

  it('places a JSON syntax error by line and column, quoting none of the text around it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-config-'))
    const file = join(dir, 'sluice.json')
    const secret = 'unquoted-secret-0123456789'
    const cases = [
      [`{\n  "server": {\n    "adminToken": ${secret}\n  }\n}`, 'line 3, column 19'],
      [`{ "server": { "adminToken": '${secret}' } }`, 'line 1, column 29'],
      [`{ "server": { "adminToken": "${secret}" "port": 1 } }`, 'line 1, column 58'],
    ] as const
    for (const [text, place] of cases) {
      await writeFile(file, text)
      const error: unknown = await loadConfigFile(file, {}).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(ConfigError)
      const { message } = error as ConfigError
      expect(message).toContain(`not valid JSON at ${place}`)
      expect(message).not.toMatch(/unquoted|secret|0123/)
    }
  })

  it('publishes an up-to-date JSON Schema in docs/config.schema.json (npm run schema)', async () => {
    const published = await readFile(
      new URL('../../../docs/config.schema.json', import.meta.url),
      'utf8',
    )
    expect(published).toBe(configJsonSchemaText())
  })
})

describe('config files', () => {
  it('reads connection.caFile into the TLS settings, and names an unreadable one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-ca-'))
    const caFile = join(dir, 'ca.pem')
    await writeFile(caFile, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n')
    const file = join(dir, 'sluice.json')
    const write = (path: string) =>
      writeFile(
        file,
        JSON.stringify({
          tenants: {
            acme: tenant({
              connection: { url: 'postgres://db/app', sslmode: 'verify-full', caFile: path },
            }),
          },
        }),
      )
    await write(caFile)
    const config = await loadConfigFile(file, {})
    expect(config.tenants.acme!.connection.ca).toContain('BEGIN CERTIFICATE')
    await write(join(dir, 'missing.pem'))
    await expect(loadConfigFile(file, {})).rejects.toThrow(
      /tenants\.acme\.connection\.caFile .*cannot read it \(ENOENT\)/,
    )
  })
})
