import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../../server/config/load.js'
import { redactText, redactUrl, redactValue, secretsOf } from '../../../server/config/redact.js'

// A password with every character that has tripped a redactor: @, :, / and %.
const password = 'Pa@ss:wo/rd%Z-42'
const encoded = encodeURIComponent(password)

/** Every piece of the password a careless redactor could leave behind. */
const pieces = [password, encoded, 'ss:wo', 'wo/rd', 'rd%Z-42', 'Pa%40ss', '%3Awo', 'Z-42']

function expectNoPassword(text: string): void {
  for (const piece of pieces) expect(text).not.toContain(piece)
}

describe('redaction', () => {
  it('hides a URL password up to the last @, with or without a scheme', () => {
    expect(redactUrl('postgres://app:p@ss@db:5432/app')).toBe(
      'postgres://app:[redacted]@db:5432/app',
    )
    expect(redactUrl('app:s3cret@db/app')).toBe('app:[redacted]@db/app')
    expect(redactUrl(`postgresql://app:${encoded}@db/app`)).toBe(
      'postgresql://app:[redacted]@db/app',
    )
    expect(redactUrl(`postgres://app:${password}@db/app?sslmode=require`)).toBe(
      'postgres://app:[redacted]@db/app?sslmode=require',
    )
    expect(redactUrl('postgres://app@db:5432/app')).toBe('postgres://app@db:5432/app')
    expect(redactUrl(`postgres://app@db/app?sslmode=require&password=${encoded}`)).toBe(
      'postgres://app@db/app?sslmode=require&password=[redacted]',
    )
    expect(redactText(`failed: postgres://app@db/app?Pass%77ord=${encoded}&x=1`)).toBe(
      'failed: postgres://app@db/app?Pass%77ord=[redacted]&x=1',
    )
  })

  it('redacts secret keys and URLs anywhere in a config value', () => {
    const shown = JSON.stringify(
      redactValue([], {
        tenants: {
          a: { connection: { url: `app:${password}@db/app`, password }, tokens: [{ token: 'x' }] },
        },
      }),
    )
    expectNoPassword(shown)
    expect(shown).toContain('"url":"app:[redacted]@db/app"')
    expect(shown).toContain('"password":"[redacted]"')
  })

  it('removes URL passwords from free text, quoted or not', () => {
    const text = redactText(
      `connect to postgres://app:${password}@db/app failed; "url":"app:${password}@db" (postgres://u:${encoded}@h)`,
    )
    expectNoPassword(text)
    expect(text).toContain('postgres://app:[redacted]@db/app failed')
    // A URL without a password keeps its user.
    expect(redactText('connect to postgres://app@db:5432/app')).toBe(
      'connect to postgres://app@db:5432/app',
    )
  })

  it('removes a known secret in every spelling', () => {
    const url = new URL('postgres://app@db/app')
    url.password = password
    const text = redactText(`raw ${password} encoded ${encoded} as a URL has it ${url.password}`, [
      password,
    ])
    expectNoPassword(text)
    expect(redactText(`value ${password}`, [encoded])).toBe('value [redacted]')
  })

  it('collects the secrets of a config: tokens, admin token, passwords, URL passwords', () => {
    const token = 'a-token-of-enough-length'
    const adminToken = 'an-admin-token-of-length'
    const config = parseConfig(
      {
        server: { adminToken },
        tenants: {
          a: { connection: { url: `postgres://app:${encoded}@db/app` }, tokens: [{ token }] },
          b: { connection: { host: 'db', password: 'field-pw' }, tokens: [{ token: `${token}2` }] },
        },
      },
      {},
    )
    expect(secretsOf(config).sort()).toEqual(
      [adminToken, token, `${token}2`, password, 'field-pw'].sort(),
    )
  })
})
