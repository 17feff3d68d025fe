import { describe, expect, it } from 'vitest'
import {
  applyEnv,
  databaseUrlProblems,
  readServerOverrides,
  secretsOfEnv,
  tokenProblem,
} from '../../../server/config/environment.js'
import { ConfigError, parseConfig } from '../../../server/config/load.js'
import { TOKEN_TOO_SHORT } from '../../../server/config/schema.js'

const config = parseConfig(
  {
    tenants: {
      acme: { connection: { url: 'postgres://db/app' }, tokens: [{ token: 'x'.repeat(16) }] },
    },
  },
  {},
)

describe('environment', () => {
  it('refuses a SLUICE_ADMIN_TOKEN that is also a tenant token', () => {
    const token = config.tenants.acme!.tokens[0]!
    const tenantToken = 'token' in token ? token.token : ''
    expect(() => applyEnv(config, { SLUICE_ADMIN_TOKEN: tenantToken })).toThrow(ConfigError)
    try {
      applyEnv(config, { SLUICE_ADMIN_TOKEN: tenantToken })
    } catch (error) {
      expect((error as ConfigError).problems.join('\n')).toContain(
        'tenants.acme.tokens.0 ("[redacted]") is also server.adminToken',
      )
    }
  })

  it('overrides the server settings, an empty variable counting as unset', () => {
    const applied = applyEnv(config, {
      HOST: '0.0.0.0',
      PORT: '9090',
      SLUICE_ADMIN_TOKEN: 'admin-token-of-length',
      SLUICE_LOG_LEVEL: 'warn',
    })
    expect(applied.server).toMatchObject({
      host: '0.0.0.0',
      port: 9090,
      adminToken: 'admin-token-of-length',
      log: { level: 'warn' },
    })
    expect(applyEnv(config, { HOST: '', PORT: '', SLUICE_ADMIN_TOKEN: '' }).server).toMatchObject({
      host: '127.0.0.1',
      port: 8080,
    })
  })

  it('lists every problem at once, each naming its variable', () => {
    const { problems } = readServerOverrides({
      PORT: '99999',
      SLUICE_ADMIN_TOKEN: 'short',
      SLUICE_LOG_LEVEL: 'loud',
    })
    expect(problems).toEqual([
      'PORT ("99999") must be a port number from 0 to 65535',
      `SLUICE_ADMIN_TOKEN ("[redacted]"): ${TOKEN_TOO_SHORT}`,
      'SLUICE_LOG_LEVEL ("loud") must be one of fatal, error, warn, info, debug, trace, silent',
    ])
    expect(() => applyEnv(config, { PORT: 'eighty' })).toThrow(ConfigError)
  })

  it('holds SLUICE_TOKEN, SLUICE_ADMIN_TOKEN and config tokens to one length rule and message', () => {
    let configMessage = ''
    try {
      parseConfig(
        { tenants: { a: { connection: { host: 'db' }, tokens: [{ token: 'short' }] } } },
        {},
      )
    } catch (error) {
      configMessage = (error as ConfigError).problems[0]!
    }
    expect(configMessage).toBe(`tenants.a.tokens.0.token ("[redacted]"): ${TOKEN_TOO_SHORT}`)
    expect(tokenProblem('SLUICE_TOKEN', 'x'.repeat(15))).toBe(
      `SLUICE_TOKEN ("[redacted]"): ${TOKEN_TOO_SHORT}`,
    )
    expect(tokenProblem('SLUICE_TOKEN', 'x'.repeat(16))).toBeUndefined()
    expect(TOKEN_TOO_SHORT).toBe(
      'must be at least 16 characters (generate one with `npm start -- token`)',
    )
  })

  it('names DATABASE_URL in each of its problems, password redacted', () => {
    expect(databaseUrlProblems('DATABASE_URL', 'app:Hunter2Hunter2@db/app')).toEqual([
      'DATABASE_URL ("app:[redacted]@db/app"): does not start with postgres:// (write postgres://user:password@host:5432/database)',
    ])
    expect(
      databaseUrlProblems('DATABASE_URL', 'postgres://app:p@ss@db:99999/app?sslmode=allow'),
    ).toEqual([
      'DATABASE_URL ("postgres://app:[redacted]@db:99999/app?sslmode=allow"): has port 99999, out of range: use 1 to 65535 (PostgreSQL\'s is 5432)',
      expect.stringMatching(/^DATABASE_URL \(.*\): sslmode allow is refused: /),
    ])
    expect(databaseUrlProblems('DATABASE_URL', 'postgres://app:pw@db:5432/app')).toEqual([])
  })

  it('knows the secrets it holds', () => {
    expect(
      secretsOfEnv({
        SLUICE_TOKEN: 'token-of-sixteen-chars',
        SLUICE_ADMIN_TOKEN: '',
        DATABASE_URL: 'postgres://app:p%40ss-word@db/app',
      }),
    ).toEqual(['token-of-sixteen-chars', 'p@ss-word'])
  })
})
