import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eventually } from '../../helpers/gateway.js'
import { RawClient, fieldsOf } from '../../helpers/raw-pg.js'
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
