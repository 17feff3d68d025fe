import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startWireGateway, type WireGateway } from '../../helpers/wire.js'

describe('the /v2 WebSocket endpoint', () => {
  let t: WireGateway
  beforeAll(async () => {
    t = await startWireGateway()
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
})
