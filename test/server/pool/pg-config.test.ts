import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../../server/config/load.js'
import { resolveConnection } from '../../../server/pool/pg-config.js'

const resolve = (connection: Record<string, unknown>) =>
  resolveConnection(
    parseConfig({ tenants: { t: { connection, tokens: [{ token: 'x'.repeat(16) }] } } }, {}).tenants
      .t!,
  ).client

describe('pg-config', () => {
  it('takes the URL apart and lets fields override it', () => {
    const client = resolve({ url: 'postgres://app:pw@db.internal:6432/shop', database: 'other' })
    expect(client).toMatchObject({
      host: 'db.internal',
      port: 6432,
      user: 'app',
      database: 'other',
    })
    expect(client.password).toBe('pw')
  })

  it('keeps the password out of JSON and logs', () => {
    const client = resolve({ url: 'postgres://app:very-secret@db/shop' })
    expect(JSON.stringify(client)).not.toContain('very-secret')
    expect(Object.keys(client)).not.toContain('password')
  })

  it('sends session defaults and the timeout caps at connect time', () => {
    const client = resolve({ url: 'postgres://db/shop' })
    expect(client.options).toBe(
      '-c TimeZone=UTC -c DateStyle=ISO -c IntervalStyle=postgres -c extra_float_digits=3 -c bytea_output=hex',
    )
    expect(client.application_name).toBe('sluice')
    expect(client.statement_timeout).toBe(30_000)
    expect(client.idle_in_transaction_session_timeout).toBe(65_000)
  })

  it('maps sslmode to TLS options', () => {
    expect(resolve({ url: 'postgres://db/shop' }).ssl).toBe(false)
    expect(resolve({ url: 'postgres://db/shop?sslmode=require' }).ssl).toEqual({
      rejectUnauthorized: false,
    })
    expect(
      resolve({ url: 'postgres://db/shop', sslmode: 'verify-full', ca: 'PEM' }).ssl,
    ).toMatchObject({
      ca: 'PEM',
      rejectUnauthorized: true,
      servername: 'db',
    })
    const verifyCa = resolve({ host: 'db', sslmode: 'verify-ca', ca: 'PEM' }).ssl as any
    expect(verifyCa).toMatchObject({ ca: 'PEM', rejectUnauthorized: true })
    expect(verifyCa.checkServerIdentity()).toBeUndefined()
  })
})
