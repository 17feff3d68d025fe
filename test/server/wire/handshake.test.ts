import { execFile } from 'node:child_process'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { caught } from '../../helpers/caught.js'
import { admin, databaseUrl, eventually } from '../../helpers/gateway.js'
import { hasPsql } from '../../helpers/psql.js'
import { RawClient, fieldsOf, frontend } from '../../helpers/raw-pg.js'
import { RawWebSocket } from '../../helpers/raw-websocket.js'
import { selfSignedLocalhost, type SelfSignedCertificate } from '../../helpers/self-signed.js'
import { pgClient, startWireGateway, type WireGateway } from '../../helpers/wire.js'

// A connection's first moments, from a client that has not authenticated: what it may make
// the gateway hold, and for how long, on either listener.

describe('wire connections that have not authenticated', () => {
  let t: WireGateway
  beforeAll(async () => {
    t = await startWireGateway({ pool: { min: 0, max: 2 } }, { server: { wireMaxHandshakes: 2 } })
  })
  afterAll(async () => {
    await t?.close()
  })

  it('are refused with 53300 past server.wireMaxHandshakes, on TCP and on /v2, until one is done', async () => {
    const silent = await Promise.all([RawClient.open(t.pgPort), RawClient.open(t.pgPort)])
    await eventually(() => t.gateway.wire.handshakes === 2)
    try {
      const error = await caught(() => pgClient(t))
      expect(error.code).toBe('53300')

      const socket = await RawWebSocket.open(t.httpHost)
      socket.send(RawWebSocket.frame(frontend.startup({ user: 'main' })))
      await socket.closed
      expect(socket.messages.map((m) => fieldsOf(m.subarray(5)))).toEqual([
        expect.objectContaining({ S: 'FATAL', C: '53300' }),
      ])
      expect(t.gateway.wire.handshakes).toBe(2)
    } finally {
      silent[0]!.socket.destroy()
    }
    await eventually(() => t.gateway.wire.handshakes === 1)
    const client = await pgClient(t)
    try {
      expect((await client.query('select 1 as n')).rows).toEqual([{ n: 1 }])
      // An open session holds no handshake slot.
      expect(t.gateway.wire.handshakes).toBe(1)
    } finally {
      await client.end()
      silent[1]!.socket.destroy()
    }
  })

  it('still have their CancelRequest served past server.wireMaxHandshakes, on TCP and on /v2', async () => {
    const client = await pgClient(t)
    const { processID, secretKey } = client as unknown as { processID: number; secretKey: number }
    const silent = await Promise.all([RawClient.open(t.pgPort), RawClient.open(t.pgPort)])
    await eventually(() => t.gateway.wire.handshakes === 2)
    try {
      const listeners = {
        tcp: async () => {
          const cancel = await RawClient.open(t.pgPort)
          cancel.send(frontend.cancel(processID, secretKey))
          await cancel.closed
          return cancel.next().then(
            () => 'an answer',
            () => 'closed unanswered',
          )
        },
        websocket: async () => {
          const cancel = await RawWebSocket.open(t.httpHost)
          cancel.send(RawWebSocket.frame(frontend.cancel(processID, secretKey)))
          await cancel.closed
          return cancel.messages.length === 0 ? 'closed unanswered' : 'an answer'
        },
      }
      for (const [name, sendCancel] of Object.entries(listeners)) {
        const marker = `cancel past the cap over ${name} ${process.pid}`
        const running = caught(() => client.query(`select pg_sleep(30) -- ${marker}`))
        await eventually(
          async () =>
            (
              await admin(
                `select 1 from pg_stat_activity where state = 'active' and query like $1`,
                [`%${marker}`],
              )
            ).length === 1,
        )
        // PostgreSQL answers a CancelRequest with nothing, and so does the gateway.
        expect(await sendCancel()).toBe('closed unanswered')
        expect((await running).code).toBe('57014')
      }
      // Still full: the cancels took no slot, and a startup packet is refused as before.
      expect(t.gateway.wire.handshakes).toBe(2)
      expect((await caught(() => pgClient(t))).code).toBe('53300')
    } finally {
      for (const s of silent) s.socket.destroy()
      await client.end()
      await eventually(() => t.gateway.wire.handshakes === 0)
    }
  })

  it('answer an SSLRequest past server.wireMaxHandshakes as always (N without TLS), then refuse with 53300', async () => {
    const silent = await Promise.all([RawClient.open(t.pgPort), RawClient.open(t.pgPort)])
    await eventually(() => t.gateway.wire.handshakes === 2)
    try {
      const client = await RawClient.open(t.pgPort)
      expect(await client.sslRequest()).toBe('N')
      client.send(frontend.startup({ user: 'main' }))
      expect(fieldsOf((await client.next()).body)).toMatchObject({ S: 'FATAL', C: '53300' })
      await client.closed
    } finally {
      for (const s of silent) s.socket.destroy()
      await eventually(() => t.gateway.wire.handshakes === 0)
    }
  })

  it('leave no slot behind when they fail or leave', async () => {
    for (let i = 0; i < 4; i++) {
      const wrong = new pg.Client(t.pgConfig('not-a-token'))
      wrong.on('error', () => {})
      expect((await caught(() => wrong.connect())).code).toBe('28P01')
      const gone = await RawClient.open(t.pgPort)
      gone.socket.destroy()
      await gone.closed
    }
    await eventually(() => t.gateway.wire.handshakes === 0)
    const client = await pgClient(t)
    await client.end()
  })
})

describe('wire connections refused past server.wireMaxHandshakes, with TLS on the TCP listener', () => {
  let certificate: SelfSignedCertificate | undefined
  let t: WireGateway
  beforeAll(async () => {
    certificate = await selfSignedLocalhost()
    t = await startWireGateway(
      { pool: { min: 0, max: 1 } },
      {
        server: {
          wireMaxHandshakes: 1,
          pgTls: certificate.pgTls,
        },
      },
    )
  })
  afterAll(async () => {
    await t?.close()
    await certificate?.remove()
  })

  it('tell a client that requires TLS 53300 over TLS, not an SSL error', async () => {
    const silent = await RawClient.open(t.pgPort)
    await eventually(() => t.gateway.wire.handshakes === 1)
    try {
      const error = await caught(() =>
        pgClient({
          ...t,
          pgConfig: () => ({ ...t.pgConfig(), ssl: { rejectUnauthorized: false } }),
        }),
      )
      expect(error.code).toBe('53300')
      if (hasPsql()) {
        // libpq with sslmode=require: its message, not "error response during SSL exchange".
        const stderr = await new Promise<string>((resolve) =>
          execFile(
            'psql',
            ['-X', '-h', '127.0.0.1', '-p', String(t.pgPort), '-U', 'main', '-c', 'select 1'],
            {
              env: {
                ...process.env,
                PGPASSWORD: t.token,
                PGSSLMODE: 'require',
                PGCONNECT_TIMEOUT: '10',
              },
              timeout: 20_000,
            },
            (_error, _stdout, stderr) => resolve(stderr),
          ),
        )
        expect(stderr).toContain('too many connections are authenticating at once')
      }
      expect(t.gateway.wire.handshakes).toBe(1)
    } finally {
      silent.socket.destroy()
    }
  })

  it('close a refused connection that goes silent, before its first packet or in TLS', async () => {
    const silent = await RawClient.open(t.pgPort)
    await eventually(() => t.gateway.wire.handshakes === 1)
    try {
      const quiet = await RawClient.open(t.pgPort)
      const stalled = await RawClient.open(t.pgPort)
      // 'S', then no TLS ClientHello ever comes.
      expect(await stalled.sslRequest()).toBe('S')
      // Closed by the gateway within its bound (test's timeout otherwise).
      await Promise.all([quiet.closed, stalled.closed])
    } finally {
      silent.socket.destroy()
    }
  })
})

describe('startup settings, on a database whose role turns standard_conforming_strings off', () => {
  const role = `sluice_wire_scs_${process.pid}`
  const table = `wire_scs_${process.pid}`
  const password = 'scs-test-Secret-9'
  let t: WireGateway
  beforeAll(async () => {
    await admin(`drop role if exists ${role}`)
    await admin(`create role ${role} login password '${password}'`)
    // Backslashes in plain string literals are escapes again for this role's sessions.
    await admin(`alter role ${role} set standard_conforming_strings = off`)
    await admin(`create table ${table} (x int)`)
    await admin(`grant select, insert on ${table} to ${role}`)
    const url = new URL(databaseUrl())
    url.username = role
    url.password = password
    t = await startWireGateway({ connection: { url: url.toString() }, pool: { min: 0, max: 2 } })
  })
  afterAll(async () => {
    await t?.close()
    await admin(`drop table if exists ${table}`)
    await admin(`drop role if exists ${role}`)
  })

  it("are applied as values, never as SQL, whatever the backend's string syntax", async () => {
    // Quoted only by doubling its quotes, the backslash would end the literal early.
    const smuggled = `\\', false); insert into public.${table} values (1); --`
    for (const token of [t.readonlyToken, t.token]) {
      const client = await RawClient.open(t.pgPort)
      client.send(frontend.startup({ user: 'main', search_path: smuggled }))
      expect((await client.next()).type).toBe('R')
      client.send(frontend.password(token))
      // Whether the session opens (the smuggled text is then a strange search_path) or fails,
      // only the setting may have been applied.
      await client.until('Z').catch(() => [])
      client.socket.destroy()
    }
    expect(await admin(`select count(*)::int as n from ${table}`)).toEqual([{ n: 0 }])
  })

  it('reach the backend exactly as sent, backslashes included', async () => {
    const client = await RawClient.open(t.pgPort)
    client.send(frontend.startup({ user: 'main', search_path: '"a\\b", public' }))
    expect((await client.next()).type).toBe('R')
    client.send(frontend.password(t.token))
    await client.until('Z')
    client.send(frontend.query('show search_path'))
    const rows = await client.until('Z')
    const data = rows.find((m) => m.type === 'D')!
    expect(data.body.toString('utf8', 6)).toBe('"a\\b", public')
    client.socket.destroy()
  })
})
