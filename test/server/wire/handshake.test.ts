import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { admin, databaseUrl, eventually } from '../../helpers/gateway.js'
import { RawClient, fieldsOf, frontend } from '../../helpers/raw-pg.js'
import { RawWebSocket } from '../../helpers/raw-websocket.js'
import { pgClient, startWireGateway, type WireGateway } from '../../helpers/wire.js'

// A connection's first moments, from a client that has not authenticated: what it may make
// the gateway hold, and for how long, on either listener.

async function caught(work: () => Promise<unknown>): Promise<any> {
  try {
    await work()
  } catch (error) {
    return error
  }
  throw new Error('expected an error')
}

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
