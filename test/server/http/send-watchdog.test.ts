import { connect, type Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../../server/log/logger.js'
import {
  backends,
  eventually,
  listenTestGateway,
  type ListeningGateway,
} from '../../helpers/gateway.js'

let t: ListeningGateway
const lines: Record<string, unknown>[] = []

beforeAll(async () => {
  const logger = createLogger(
    { level: 'info' },
    { write: (line: string) => lines.push(JSON.parse(line)) },
  )
  t = await listenTestGateway(
    { pool: { min: 0, max: 2 } },
    { server: { sendTimeoutMs: 300 }, logger },
  )
})

afterAll(() => t.close())

/** Sends a raw request with `requestId` and reads nothing of the answer. */
function neverReading(path: string, body: unknown, requestId: string): Promise<Socket> {
  const text = JSON.stringify(body)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(new URL(t.url).port), '127.0.0.1')
    socket.once('connect', () => {
      socket.pause()
      socket.write(
        `POST ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t.token}\r\n` +
          `X-Request-Id: ${requestId}\r\nAccept: application/x-ndjson\r\n` +
          `Content-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
      )
      resolve(socket)
    })
    socket.once('error', reject)
  })
}

const SEND_TIMEOUT = 'send timeout: the client stopped reading, its connection closed'
const HUGE = "select n, repeat('x', 10000) from (select generate_series(1, 100000) as n) s"

describe('the send watchdog', () => {
  it.each([
    ['a stream of /v1/query', async () => '/v1/query'],
    [
      'a stream in a transaction',
      async () => `/v1/transactions/${(await t.json('/v1/transactions', {})).body.id}/query`,
    ],
  ])('logs the request id of %s it cut off, and its statement ends', async (_, path) => {
    const requestId = `unread-${lines.length}`
    const from = lines.length
    const socket = await neverReading(await path(), { sql: HUGE }, requestId)
    const timedOut = () => lines.slice(from).find((l) => l.msg === SEND_TIMEOUT)
    await eventually(() => timedOut() !== undefined)
    expect(timedOut()).toMatchObject({ requestId, timeoutMs: 300 })
    socket.destroy()
    await eventually(async () => {
      const active = (await backends(t.applicationName)).filter((b) => b.state !== 'idle')
      return active.length === 0 && t.gateway.tenants.get('main')!.pool.stats().poolInUse === 0
    })
  })
})
