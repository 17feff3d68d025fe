import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { caught } from '../../helpers/caught.js'
import { RawClient, frontend } from '../../helpers/raw-pg.js'
import { selfSignedLocalhost, type SelfSignedCertificate } from '../../helpers/self-signed.js'
import { startWireGateway, type WireGateway } from '../../helpers/wire.js'

async function connectPg(config: pg.ClientConfig): Promise<pg.Client> {
  const client = new pg.Client(config)
  client.on('error', () => {})
  await client.connect()
  return client
}

describe('SCRAM-SHA-256 against the token', () => {
  let t: WireGateway
  beforeAll(async () => {
    t = await startWireGateway({ pool: { min: 0, max: 2 } }, { wire: { scramOnly: true } })
  })
  afterAll(() => t?.close())

  it('asks for SCRAM-SHA-256, never for the token itself', async () => {
    const client = await RawClient.open(t.pgPort)
    client.send(frontend.startup({ user: 'main' }))
    const request = await client.next()
    expect(request.type).toBe('R')
    expect(request.body.readInt32BE(0)).toBe(10)
    expect(request.body.toString('utf8', 4)).toBe('SCRAM-SHA-256\0\0')
    // A cleartext answer is not a SASL message: refused.
    client.send(frontend.password(t.token))
    expect((await client.next()).type).toBe('E')
    await client.closed
  })

  it('admits each token with its own role, whatever the user name', async () => {
    const writer = await connectPg({ ...t.pgConfig(), user: 'anyone' })
    const reader = await connectPg(t.pgConfig(t.readonlyToken))
    try {
      expect((await writer.query('show transaction_read_only')).rows[0]).toEqual({
        transaction_read_only: 'off',
      })
      expect((await reader.query('show transaction_read_only')).rows[0]).toEqual({
        transaction_read_only: 'on',
      })
    } finally {
      await Promise.all([writer.end(), reader.end()])
    }
  })

  it('admits a user named like a property every object has (constructor, __proto__)', async () => {
    for (const user of ['constructor', '__proto__', 'toString']) {
      const client = await connectPg({ ...t.pgConfig(), user })
      try {
        expect((await client.query('select 1 as one')).rows).toEqual([{ one: 1 }])
      } finally {
        await client.end()
      }
    }
  })

  it('refuses a wrong token with 28P01, whether or not the user names the tenant', async () => {
    const wrong = await caught(() =>
      connectPg({ ...t.pgConfig('not-the-token-at-all-0000'), user: 'sluice' }),
    )
    expect(wrong.code).toBe('28P01')
    const error = await caught(() =>
      connectPg({ ...t.pgConfig(), password: `${t.token}x`, user: 'main' }),
    )
    expect(error.code).toBe('28P01')
  })
})

describe('TLS on the TCP listener', () => {
  let certificate: SelfSignedCertificate | undefined
  let t: WireGateway
  let plain: WireGateway
  beforeAll(async () => {
    certificate = await selfSignedLocalhost()
    t = await startWireGateway(
      { pool: { min: 0, max: 2 } },
      {
        server: { pgTls: certificate.pgTls },
        wire: { scramOnly: false },
      },
    )
    plain = await startWireGateway({ pool: { min: 0, max: 1 } })
  })
  afterAll(async () => {
    await t?.close()
    await plain?.close()
    await certificate?.remove()
  })

  it('answers SSLRequest with S and serves the session over TLS', async () => {
    const client = await connectPg({
      ...t.pgConfig(),
      ssl: { rejectUnauthorized: false },
    })
    try {
      const cipher = (client as any).connection.stream.getCipher?.()
      expect(cipher?.name).toBeTruthy()
      expect((await client.query('select 1 as one')).rows).toEqual([{ one: 1 }])
    } finally {
      await client.end()
    }
  })

  it('answers N without a certificate, which a client requiring TLS refuses', async () => {
    const error = await caught(() =>
      connectPg({ ...plain.pgConfig(), ssl: { rejectUnauthorized: false } }),
    )
    expect(error.message).toContain('does not support SSL')
  })
})
