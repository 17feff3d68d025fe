import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { connect, type Socket } from 'node:net'
import { Duplex, Writable } from 'node:stream'
import pg from 'pg'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { caught } from '../../helpers/caught.js'
import { startGatewayServer, type GatewayServer } from '../../../server/cli/gateway-server.js'
import { parseConfig } from '../../../server/config/load.js'
import type { ConfigInput } from '../../../server/config/schema.js'
import { requestTimeoutMs } from '../../../server/http/listener.js'
import { createLogger } from '../../../server/log/logger.js'
import { admin, databaseUrl, eventually, newToken } from '../../helpers/gateway.js'

// The connections a client can make one gateway process hold, through the listeners the CLI
// serves (startGatewayServer: the HTTP listener and pgPort), and how long a silent one lives.

interface Served {
  s: GatewayServer
  token: string
  httpPort: number
  pgPort: number
  applicationName: string
  logs: Record<string, unknown>[]
  /** Reloads with `keys` over the server keys it started with; the report's restartNeeded. */
  reloadWith(keys: ConfigInput['server']): Promise<string[]>
}

async function serve(server: ConfigInput['server']): Promise<Served> {
  const token = newToken()
  const applicationName = `sluice-test-${randomBytes(4).toString('hex')}`
  const logs: Record<string, unknown>[] = []
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line) logs.push(JSON.parse(line))
      done()
    },
  })
  let serverKeys = server
  const configOf = () =>
    parseConfig(
      {
        server: { host: '127.0.0.1', port: 0, pgPort: 0, ...serverKeys },
        tenants: {
          main: {
            connection: { url: databaseUrl() },
            tokens: [{ token }],
            allowPrivilegedRole: true,
            pool: { min: 0, max: 4 },
            session: { applicationName },
          },
        },
      },
      {},
    )
  const s = await startGatewayServer(configOf(), {
    logger: createLogger({ level: 'warn' }, sink),
    loadConfig: async () => configOf(),
  })
  return {
    s,
    async reloadWith(keys) {
      serverKeys = { ...server, ...keys }
      return (await s.gateway.admin.reload()).restartNeeded
    },
    token,
    applicationName,
    logs,
    httpPort: (s.server.address() as AddressInfo).port,
    pgPort: (s.pgServer!.address() as AddressInfo).port,
  }
}

async function stop(t: Served | undefined): Promise<void> {
  if (!t) return
  t.s.server.closeAllConnections()
  await t.s.abort()
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket))
    socket.once('error', reject)
  })
}

/** Everything the server sends until it closes the connection. */
function readToClose(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = ''
    socket.on('data', (chunk) => (text += chunk))
    socket.on('error', () => {})
    socket.once('close', () => resolve(text))
  })
}

function queryRequest(token: string, sql: string): string {
  const body = JSON.stringify({ sql })
  return (
    `POST /v1/query HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer ${token}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  )
}

function parseAnswer(text: string): { status: number; headers: Record<string, string>; body: any } {
  const [head, body] = [
    text.slice(0, text.indexOf('\r\n\r\n')),
    text.slice(text.indexOf('\r\n\r\n') + 4),
  ]
  const [statusLine, ...lines] = head.split('\r\n')
  const headers = Object.fromEntries(
    lines.map((line) => [
      line.slice(0, line.indexOf(':')).toLowerCase(),
      line.slice(line.indexOf(':') + 1).trim(),
    ]),
  )
  return { status: Number(statusLine!.split(' ')[1]), headers, body: JSON.parse(body) }
}

async function pgConnect(t: Served): Promise<pg.Client> {
  const client = new pg.Client({
    host: '127.0.0.1',
    port: t.pgPort,
    user: 'main',
    password: t.token,
    database: 'any',
  })
  client.on('error', () => {})
  await client.connect()
  return client
}

/** `promise`, or a failure naming `what` after `ms` (a generous bound, not a measurement). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms)
  })
  return Promise.race([promise, late]).finally(() => clearTimeout(timer))
}

describe('server.maxClientConnections', () => {
  const table = `client_conns_${process.pid}`
  let t: Served
  const held: Socket[] = []
  let session: pg.Client | undefined
  beforeAll(async () => {
    await admin(`create table ${table} (x int)`)
    t = await serve({ maxClientConnections: 3, headersTimeoutMs: 120_000 })
  })
  afterEach(async () => {
    for (const socket of held.splice(0)) socket.destroy()
    await session?.end()
    session = undefined
    await eventually(() => t.s.gateway.connections.size === 0)
  })
  afterAll(async () => {
    await stop(t)
    await admin(`drop table if exists ${table}`)
  })

  async function fill(): Promise<void> {
    held.push(await open(t.httpPort), await open(t.httpPort))
    session = await pgConnect(t)
    await eventually(() => t.s.gateway.connections.size === 3)
  }

  it('answers the next HTTP connection 429 RATE_LIMITED and closes it, running nothing sent on it', async () => {
    await fill()
    const socket = await open(t.httpPort)
    const answer = readToClose(socket)
    socket.write(queryRequest(t.token, `insert into ${table} values (1)`))
    const { status, headers, body } = parseAnswer(await answer)
    expect(status).toBe(429)
    expect(headers).toMatchObject({
      'retry-after': '1',
      connection: 'close',
      'content-type': 'application/json',
    })
    expect(body).toEqual({
      error: {
        code: 'RATE_LIMITED',
        message: expect.stringContaining('maxClientConnections'),
        retryable: true,
      },
    })
    // The session on pgPort runs after whatever the refused request could have started.
    await session!.query('select 1')
    expect(await admin(`select count(*)::int as n from ${table}`)).toEqual([{ n: 0 }])
    expect(t.s.gateway.connections.size).toBe(3)
  })

  it('answers the next pgPort connection 53300, and counts and logs the refusals', async () => {
    await fill()
    const error = await caught(() => pgConnect(t))
    expect(error.code).toBe('53300')
    expect(error.message).toContain('maxClientConnections')
    const metrics = await t.s.gateway.metrics.render()
    expect(metrics).toMatch(/sluice_client_connections_refused_total\{listener="pg"\} [1-9]/)
    expect(metrics).toMatch(/sluice_client_connections\{listener="http"\} 2/)
    expect(metrics).toMatch(/sluice_client_connections\{listener="pg"\} 1/)
    expect(t.logs).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        msg: 'client connections refused: server.maxClientConnections are open',
        max: 3,
      }),
    )
  })

  it('serves a new connection again once one closes', async () => {
    await fill()
    expect((await caught(() => pgConnect(t))).code).toBe('53300')
    held.pop()!.destroy()
    await eventually(() => t.s.gateway.connections.size === 2)
    const socket = await open(t.httpPort)
    const answer = readToClose(socket)
    socket.write(
      queryRequest(t.token, 'select 1 as n').replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n'),
    )
    const { status, body } = parseAnswer(await answer)
    expect(status).toBe(200)
    expect(body.rows).toEqual([['1']])
  })

  it('follows a reload at once: a raised cap admits the next connection', async () => {
    await fill()
    expect((await caught(() => pgConnect(t))).code).toBe('53300')
    expect(await t.reloadWith({ maxClientConnections: 4 })).toEqual([])
    const more = await pgConnect(t)
    try {
      expect((await more.query('select 1 as n')).rows).toEqual([{ n: 1 }])
      expect(t.s.gateway.connections.size).toBe(4)
    } finally {
      await more.end()
      expect(await t.reloadWith({})).toEqual([])
    }
  })

  it('counts a /v2 WebSocket as the connection it stays', async () => {
    held.push(await open(t.httpPort))
    session = await pgConnect(t)
    const ws = await open(t.httpPort)
    held.push(ws)
    ws.write(
      'GET /v2 HTTP/1.1\r\nHost: gateway\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    )
    await new Promise((resolve) => ws.once('data', resolve))
    expect(t.s.gateway.connections.size).toBe(3)
    expect((await caught(() => pgConnect(t))).code).toBe('53300')
  })

  it('runs nothing of a request Node parses on a refused connection before it closes', async () => {
    await fill()
    // An injected connection whose writes never complete: the refused socket stays open
    // long enough for the http.Server's parser to read a whole request from it.
    const written: Buffer[] = []
    const socket = new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, _done) {
        written.push(chunk)
      },
    })
    t.s.server.emit('connection', socket)
    const parsed = new Promise((resolve) => t.s.server.once('request', resolve))
    socket.push(queryRequest(t.token, `insert into ${table} values (2)`))
    await parsed
    expect(Buffer.concat(written).toString()).toMatch(/^HTTP\/1.1 429 /)
    // The gateway's listener ran before this one: a request it began would be in flight.
    const inFlight = /^sluice_http_requests_in_flight (\d+)/m
    expect(inFlight.exec(await t.s.gateway.metrics.render())?.[1]).toBe('0')
    expect(await admin(`select count(*)::int as n from ${table}`)).toEqual([{ n: 0 }])
    socket.destroy()
  })
})

describe('server.headersTimeoutMs', () => {
  let t: Served
  beforeAll(async () => {
    t = await serve({ headersTimeoutMs: 500 })
  })
  afterAll(async () => {
    await stop(t)
  })

  it("is Node's headersTimeout, and the whole request gets 1 s more per 32 KiB of body", () => {
    expect(t.s.server.headersTimeout).toBe(500)
    expect(t.s.server.requestTimeout).toBe(500 + 32_000)
    expect(requestTimeoutMs(10_000, 1024 * 1024)).toBe(42_000)
  })

  it('closes a connection that sends nothing, never one waiting for a slow answer', async () => {
    const lock = new pg.Client({ connectionString: databaseUrl() })
    await lock.connect()
    const key = 71_000 + (process.pid % 1000)
    try {
      await lock.query('select pg_advisory_lock($1)', [key])
      // Its request waits for the lock far longer than the silent connection's timeout.
      const waiting = await open(t.httpPort)
      const answer = readToClose(waiting)
      waiting.write(
        queryRequest(t.token, `select pg_advisory_xact_lock(${key}), 7 as n`).replace(
          '\r\n\r\n',
          '\r\nConnection: close\r\n\r\n',
        ),
      )
      await eventually(
        async () =>
          (
            await admin(
              "select 1 from pg_stat_activity where application_name = $1 and wait_event_type = 'Lock'",
              [t.applicationName],
            )
          ).length === 1,
      )
      const silent = await open(t.httpPort)
      const silentClosed = readToClose(silent)
      // Opened after the waiting one: its check runs after the waiting one's.
      expect(await within(silentClosed, 10_000, 'closing the silent connection')).toBe('')
      expect(waiting.destroyed).toBe(false)
      await lock.query('select pg_advisory_unlock($1)', [key])
      const { status, body } = parseAnswer(await answer)
      expect(status).toBe(200)
      expect(body.rows).toEqual([['', '7']])
      expect(await t.s.gateway.metrics.render()).toMatch(
        /sluice_http_silent_connections_closed_total 1\b/,
      )
    } finally {
      await lock.end()
    }
  })

  it('needs a restart to change', async () => {
    expect(await t.reloadWith({ headersTimeoutMs: 800 })).toEqual(['server.headersTimeoutMs'])
    expect(t.s.server.headersTimeout).toBe(500)
    await t.reloadWith({})
  })

  it('answers 408 to a connection whose headers stop coming', async () => {
    const socket = await open(t.httpPort)
    const answer = readToClose(socket)
    socket.write('POST /v1/query HTTP/1.1\r\nHost: gateway\r\n')
    expect(await within(answer, 10_000, 'the 408')).toMatch(/^HTTP\/1.1 408 /)
  })
})
