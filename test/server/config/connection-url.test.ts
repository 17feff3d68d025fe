import { describe, expect, it } from 'vitest'
import { parseConnectionUrl } from '../../../server/config/connection-url.js'

const problems = (url: string, options = {}): string[] => {
  const parsed = parseConnectionUrl(url, options)
  if (parsed.ok) throw new Error(`expected ${url} to be refused`)
  return parsed.problems
}

describe('connection URLs', () => {
  it('reads every part, percent-decoded, with an @ or a : inside the password', () => {
    expect(
      parseConnectionUrl(
        'postgresql://app:p%40ss%2Fw:rd@db.internal:6432/my%20db?sslmode=verify-full',
      ),
    ).toEqual({
      ok: true,
      url: {
        user: 'app',
        password: 'p@ss/w:rd',
        host: 'db.internal',
        port: 6432,
        database: 'my db',
        sslmode: 'verify-full',
      },
    })
    expect(parseConnectionUrl('postgres://app:p@ss@db/app')).toMatchObject({
      ok: true,
      url: { user: 'app', password: 'p@ss', host: 'db', database: 'app' },
    })
    expect(parseConnectionUrl('postgres://[::1]:5433/app')).toMatchObject({
      ok: true,
      url: { host: '::1', port: 5433 },
    })
    expect(parseConnectionUrl('postgres://db')).toEqual({ ok: true, url: { host: 'db' } })
  })

  it('refuses text that is not a postgres:// URL, and other schemes', () => {
    for (const url of ['not a url at all', 'app:secret@db/app', 'db.internal:5432/app']) {
      expect(problems(url)).toEqual([
        'does not start with postgres:// (write postgres://user:password@host:5432/database)',
      ])
    }
    expect(problems('mysql://app:pw@db/app')).toEqual([
      'uses the scheme mysql://: Sluice speaks to PostgreSQL only (postgres:// or postgresql://)',
    ])
  })

  it('refuses a port that is not a number or out of range', () => {
    expect(problems('postgres://db:notaport/app')).toEqual([
      'has a port that is not a number: write host:5432',
    ])
    for (const port of [0, 65536, 99999]) {
      expect(problems(`postgres://db:${port}/app`)).toEqual([
        `has port ${port}, out of range: use 1 to 65535 (PostgreSQL's is 5432)`,
      ])
    }
    expect(parseConnectionUrl('postgres://db:65535/app').ok).toBe(true)
  })

  it('needs a host unless another setting gives one, and one host only', () => {
    expect(problems('postgres:///app')).toEqual([
      'has no host: write postgres://user:password@host:5432/database',
    ])
    expect(parseConnectionUrl('postgres:///app', { hostOptional: true })).toEqual({
      ok: true,
      url: { database: 'app' },
    })
    expect(problems('postgres://db1,db2/app')[0]).toMatch(/^lists several hosts/)
  })

  it('refuses a database path of several parts or over 63 bytes', () => {
    expect(problems('postgres://db/app/extra')[0]).toMatch(/^has a path with several parts/)
    expect(problems(`postgres://db/${'é'.repeat(32)}`)).toEqual([
      'names a database longer than 63 bytes, the most PostgreSQL allows',
    ])
  })

  it('refuses sslmode prefer and allow with the reason, and unknown modes', () => {
    for (const mode of ['prefer', 'allow']) {
      const [problem] = problems(`postgres://db/app?sslmode=${mode}`)
      expect(problem).toMatch(new RegExp(`^sslmode ${mode} is refused: `))
      expect(problem).toContain('the pg driver cannot fall back')
      expect(problem).toContain('use require or verify-full for TLS, disable for plain text')
    }
    expect(problems('postgres://db/app?sslmode=on')).toEqual([
      'sslmode "on" is not one of disable, require, verify-ca, verify-full',
    ])
    for (const mode of ['disable', 'require', 'verify-ca', 'verify-full'])
      expect(parseConnectionUrl(`postgres://db/app?sslmode=${mode}`)).toMatchObject({
        ok: true,
        url: { sslmode: mode },
      })
  })

  it('names the config key of a libpq parameter it does not read, and refuses unknown ones', () => {
    expect(problems('postgres://db/app?connect_timeout=3&sslrootcert=/ca.pem&foo=1')).toEqual([
      'has the parameter ?connect_timeout=, which Sluice does not read from a URL: use connection.connectTimeoutMs',
      'has the parameter ?sslrootcert=, which Sluice does not read from a URL: use connection.caFile',
      'has the parameter ?foo=, which Sluice does not use: remove it (the one parameter read is sslmode)',
    ])
  })

  it('lists every problem of one URL at once', () => {
    expect(problems('postgres://db:99999/a/b?sslmode=prefer&x=1')).toHaveLength(4)
  })

  it('explains a password that cut the URL short, without quoting any of it', () => {
    for (const url of [
      'postgres://app:Xq7/Zk9@db/app',
      'postgres://app:Xq7?Zk9@db/app',
      'postgres://app:Xq7#Zk9@db/app',
    ]) {
      const found = problems(url)
      expect(found).toEqual([
        'has an @ after the host: percent-encode those characters in the user name and password (/ as %2F, ? as %3F, # as %23, @ as %40, % as %25)',
      ])
      expect(found.join()).not.toMatch(/Xq7|Zk9/)
    }
    expect(problems('postgres://app:100%@db/app')).toEqual([
      'the password has a % that does not start a percent-encoding (write % as %25)',
    ])
  })
})
