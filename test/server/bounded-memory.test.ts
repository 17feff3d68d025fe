import { connect, type Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { admin, databaseUrl, eventually, newToken } from '../helpers/gateway.js'
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.js'

// Each case runs against a gateway in its own process, whose memory is read from /proc.
describe('bounded memory', () => {
  const token = newToken()
  const readonlyToken = newToken()
  const applicationName = `sluice-test-memory-${newToken().slice(0, 6)}`
  let gw: GatewayProcess

  beforeAll(async () => {
    gw = await startGatewayProcess({
      server: { sendTimeoutMs: 1500, log: { level: 'info' } },
      tenants: {
        main: {
          allowPrivilegedRole: true,
          connection: { url: databaseUrl() },
          tokens: [
            { token, role: 'readwrite' },
            { token: readonlyToken, role: 'readonly' },
          ],
          pool: { min: 1, max: 8 },
          session: { applicationName },
        },
      },
    })
  })

  afterAll(async () => {
    await gw?.stop()
  })

  const post = async (body: unknown, headers: Record<string, string> = {}, tok = token) => {
    const res = await fetch(`${gw.url}/v1/query`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${tok}`, ...headers },
      body: JSON.stringify(body),
    })
    return { status: res.status, text: await res.text() }
  }

  /** Waits until the gateway's pool has settled: nothing of ours still runs in PostgreSQL. */
  const settled = () =>
    eventually(async () => {
      const active = await admin(
        "select 1 from pg_stat_activity where application_name = $1 and state <> 'idle'",
        [applicationName],
      )
      return active.length === 0
    })

  it('refuses a 600 MiB value from a readonly token with RESULT_TOO_LARGE, without crashing', async () => {
    await gw.resetPeak()
    const before = await gw.rssMiB()
    const answer = await post({ sql: "select repeat('x', 600 * 1024 * 1024)" }, {}, readonlyToken)
    expect(answer.status).toBe(413)
    expect(JSON.parse(answer.text).error.code).toBe('RESULT_TOO_LARGE')
    expect((await gw.peakRssMiB()) - before).toBeLessThan(64)
    expect((await post({ sql: 'select 1' })).status).toBe(200)
    await settled()
  })

  it('refuses a 200 MB value before it costs memory, buffered or streamed', async () => {
    for (const headers of [{}, { Accept: 'application/x-ndjson' }]) {
      await gw.resetPeak()
      const before = await gw.rssMiB()
      const answer = await post({ sql: "select repeat('x', 200 * 1000 * 1000)" }, headers)
      expect(answer.status).toBe(413)
      expect(JSON.parse(answer.text).error.code).toBe('RESULT_TOO_LARGE')
      // The value was never held: the peak moved by far less than its size.
      expect((await gw.peakRssMiB()) - before).toBeLessThan(64)
    }
    await settled()
  })

  it('refuses an error message too large to hold, without crashing', async () => {
    const answer = await post({
      sql: "do $$ begin raise exception '%', repeat('x', 100 * 1000 * 1000); end $$",
    })
    expect(answer.status).toBe(413)
    expect(JSON.parse(answer.text).error.message).toContain('anything but a row')
    expect((await post({ sql: 'select 1' })).status).toBe(200)
  })

  /** How many `send timeout` lines the gateway logged. */
  const sendTimeouts = () => gw.output().split('send timeout').length - 1

  /** Opens `count` sockets that each send `request` and then never read. */
  async function neverReading(count: number, request: string): Promise<Socket[]> {
    return Promise.all(
      Array.from(
        { length: count },
        () =>
          new Promise<Socket>((resolve, reject) => {
            const socket = connect({ port: gw.port, host: '127.0.0.1' })
            socket.once('connect', () => {
              socket.pause()
              socket.write(request)
              resolve(socket)
            })
            socket.once('error', reject)
          }),
      ),
    )
  }

  function rawRequest(sql: string, headers = ''): string {
    const body = JSON.stringify({ sql })
    return (
      `POST /v1/query HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n${headers}` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
    )
  }

  it('keeps 30 unread 9 MB answers within the documented bound, then closes them after sendTimeoutMs', async () => {
    await gw.resetPeak()
    const before = await gw.rssMiB()
    const sockets = await neverReading(
      30,
      rawRequest("select repeat('x', 1000) from generate_series(1, 9000)"),
    )
    // The gateway closes each of them once its buffer stayed full for sendTimeoutMs.
    await eventually(() => sendTimeouts() >= 30, 30_000)
    for (const socket of sockets) socket.destroy()
    const grown = (await gw.peakRssMiB()) - before
    // docs/operations.md: each unread answer holds at most its JSON text (~9 MB here).
    expect(grown).toBeLessThan(30 * 9 + 32)
    expect((await post({ sql: 'select 1' })).status).toBe(200)
  })

  it('holds a stream nobody reads at the database, not in memory, until sendTimeoutMs', async () => {
    await gw.resetPeak()
    const before = await gw.rssMiB()
    const sockets = await neverReading(
      30,
      rawRequest(
        "select n, repeat('x', 1000) from (select generate_series(1, 1000000) as n) s",
        'Accept: application/x-ndjson\r\n',
      ),
    )
    await eventually(async () => {
      const waiting = await admin(
        "select 1 from pg_stat_activity where application_name = $1 and wait_event = 'ClientWrite'",
        [applicationName],
      )
      return waiting.length === 8
    })
    const grown = (await gw.peakRssMiB()) - before
    expect(grown).toBeLessThan(64)
    await eventually(() => sendTimeouts() >= 60, 30_000)
    for (const socket of sockets) socket.destroy()
    await settled()
  })
})
