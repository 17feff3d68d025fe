import { connect } from 'node:net'
import type { AddressInfo } from 'node:net'
import { Pool, neonConfig } from '@neondatabase/serverless'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import ws, { WebSocketServer } from 'ws'
import {
  preAuthPayloadBytes,
  raiseMaxPayload,
  sessionPayloadBytes,
} from '../../../server/http/websocket.js'
import { eventually } from '../../helpers/gateway.js'
import { fieldsOf, frontend } from '../../helpers/raw-pg.js'
import { RawWebSocket } from '../../helpers/raw-websocket.js'
import { startWireGateway, type WireGateway } from '../../helpers/wire.js'

const BODY_LIMIT = 64 * 1024

describe('the /v2 WebSocket endpoint', () => {
  let t: WireGateway
  let url: string
  beforeAll(async () => {
    t = await startWireGateway(
      { pool: { min: 0, max: 2 } },
      { server: { bodyLimitBytes: BODY_LIMIT }, wire: { handshakeTimeoutMs: 5_000 } },
    )
    neonConfig.webSocketConstructor = ws
    neonConfig.useSecureWebSocket = false
    neonConfig.wsProxy = (host, port) => `${t.httpHost}/v2?address=${host}:${port}`
    url = `postgresql://sluice:${t.token}@db.example.invalid/main`
  })
  afterAll(async () => {
    await t?.close()
  })

  it('closes a refused upgrade, even when its client keeps its side open', async () => {
    const [host, port] = t.httpHost.split(':')
    const socket = connect({ host, port: Number(port), allowHalfOpen: true })
    socket.on('error', () => {})
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()))
    let answer = ''
    socket.on('data', (data: Buffer) => (answer += data.toString('latin1')))
    socket.write(
      'GET /elsewhere HTTP/1.1\r\nHost: gateway\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    )
    // It writes on after the answer: a socket the gateway let go of resets, and closes.
    const writing = setInterval(() => socket.write('more'), 5)
    await closed
    clearInterval(writing)
    expect(answer).toMatch(/^HTTP\/1\.1 404 /)
  })

  it('closes with 1009 a client that announces an oversized message before it authenticates, without reading it', async () => {
    const client = await RawWebSocket.open(t.httpHost)
    // The header alone: the payload is never sent, so only a refusal at the header can end it
    // before the handshake's timeout.
    client.send(RawWebSocket.header(preAuthPayloadBytes(BODY_LIMIT) + 1))
    expect(await client.closed).toBe(1009)
    await eventually(() => t.gateway.wire.handshakes === 0)
  })

  it('closes with 1009 an oversized message sent after a startup packet, before the password', async () => {
    const client = await RawWebSocket.open(t.httpHost)
    client.send(RawWebSocket.frame(frontend.startup({ user: 'main' })))
    await eventually(() => client.messages.length > 0)
    expect(client.messages[0]![0]).toBe('R'.charCodeAt(0))
    client.send(RawWebSocket.header(preAuthPayloadBytes(BODY_LIMIT) + 1), Buffer.alloc(1024))
    expect(await client.closed).toBe(1009)
  })

  it('refuses a wrong token pipelined with a large first message, and lets go of it', async () => {
    const client = await RawWebSocket.open(t.httpHost)
    const query = frontend.query(`select '${'x'.repeat(BODY_LIMIT - 100)}'`)
    client.send(
      RawWebSocket.frame(
        Buffer.concat([
          frontend.startup({ user: 'main' }),
          frontend.password('not-a-token'),
          query,
        ]),
      ),
    )
    await client.closed
    const errors = client.messages
      .filter((m) => m[0] === 'E'.charCodeAt(0))
      .map((m) => fieldsOf(m.subarray(5)))
    expect(errors).toEqual([expect.objectContaining({ S: 'FATAL', C: '28P01' })])
  })

  it("serves Neon's first query pipelined behind the password, then frames over the pre-auth limit once authenticated", async () => {
    const big = 'x'.repeat(BODY_LIMIT - 1024)
    // A new Pool's first query goes in the same frame as the startup and the password.
    const pool = new Pool({ connectionString: url, max: 1 })
    // A client the pool ended may still hear the gateway's own close (57P01) after the test.
    pool.on('error', () => {})
    try {
      const first = await pool.query(`select length('${big}') as n`)
      expect(first.rows).toEqual([{ n: big.length }])
      // Parse (the text) and Bind (the parameter) in one frame: over the limit before
      // authentication, within the session's.
      const both = await pool.query(`select length($1::text) as n, '${big}' <> '' as b`, [big])
      expect(both.rows).toEqual([{ n: big.length, b: true }])
    } finally {
      await pool.end()
    }
  })
})

describe("raising ws's limit on an open socket", () => {
  it("sets the field ws's receiver reads at each frame (fails if a new ws stops reading it)", async () => {
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1', maxPayload: 16 })
    await new Promise((resolve) => server.once('listening', resolve))
    try {
      const port = (server.address() as AddressInfo).port
      const raised = new Promise<boolean>((resolve) =>
        server.once('connection', (socket) => {
          const done = raiseMaxPayload(socket, sessionPayloadBytes(64))
          socket.on('message', (data: Buffer) => socket.send(`got ${data.length}`))
          resolve(done)
        }),
      )
      const client = new ws(`ws://127.0.0.1:${port}`)
      await new Promise((resolve) => client.once('open', resolve))
      expect(await raised).toBe(true)
      client.send(Buffer.alloc(1000))
      const answer = await new Promise<string>((resolve, reject) => {
        client.once('message', (data: Buffer) => resolve(data.toString()))
        client.once('close', (code) => reject(new Error(`closed with ${code}`)))
      })
      expect(answer).toBe('got 1000')
      client.close()
    } finally {
      server.close()
    }
  })
})
