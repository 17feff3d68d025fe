/**
 * Secrets never print, even when the driver's own error message holds one. A server that
 * speaks PostgreSQL's protocol (a proxy, a pooler, a managed front end) may quote what it
 * got back: here one asks for a cleartext password and refuses it with a message that quotes
 * the password and the user. Whatever pg makes of that must not reach a log line, an answer,
 * `/readyz`, `/metrics` or `/admin`, in any spelling of the password.
 */
import { Writable } from 'node:stream'
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../server/log/logger.js'
import { authenticationCleartext, errorResponse } from '../../server/wire/messages.js'
import { databaseUrl, eventually, newToken } from '../helpers/gateway.js'
import { startWireGateway, type WireGateway } from '../helpers/wire.js'

const PASSWORD = 'hunter2 s3cr/et@pw'
const SPELLINGS = [PASSWORD, encodeURIComponent(PASSWORD), PASSWORD.replace(/ /g, '%20')]

/** A PostgreSQL look-alike that refuses every password, quoting it. */
async function chattyServer(): Promise<{ server: Server; port: number; seen: string[] }> {
  const seen: string[] = []
  const server = createServer((socket: Socket) => {
    let buffered = Buffer.alloc(0)
    let started = false
    socket.on('error', () => {})
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk])
      if (!started) {
        if (buffered.length < 4 || buffered.length < buffered.readInt32BE(0)) return
        buffered = buffered.subarray(buffered.readInt32BE(0))
        started = true
        socket.write(authenticationCleartext())
      }
      // PasswordMessage: 'p', its length, the password as a C string.
      if (buffered.length < 5 || buffered.length < 1 + buffered.readInt32BE(1)) return
      const password = buffered.subarray(5, buffered.indexOf(0, 5)).toString()
      seen.push(password)
      socket.end(
        errorResponse({
          severity: 'FATAL',
          code: '28P01',
          message: `password "${password}" refused for user "app" (url postgres://app:${password}@db/app)`,
        }),
      )
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { server, port: (server.address() as AddressInfo).port, seen }
}

describe('a driver error that quotes the password', () => {
  let fake: Awaited<ReturnType<typeof chattyServer>>
  let t: WireGateway
  let logs = ''
  const adminToken = newToken()
  const downToken = newToken()
  const stream = new Writable({
    write(chunk, _encoding, done) {
      logs += String(chunk)
      done()
    },
  })

  beforeAll(async () => {
    fake = await chattyServer()
    t = await startWireGateway(
      {},
      {
        logger: createLogger({ level: 'debug' }, stream),
        server: { adminToken, log: { level: 'debug', statements: 'text-and-params' } },
        extraTenants: {
          down: {
            connection: {
              url: `postgres://app:${encodeURIComponent(PASSWORD)}@127.0.0.1:${fake.port}/app`,
              connectTimeoutMs: 2000,
            },
            pool: { min: 0, max: 1, acquireTimeoutMs: 2000 },
            tokens: [{ token: downToken }],
          },
          // Its query cache's own listening connection is refused the same way.
          cached: {
            connection: {
              url: `postgres://app:${encodeURIComponent(PASSWORD)}@127.0.0.1:${fake.port}/app`,
              connectTimeoutMs: 2000,
            },
            pool: { min: 0, max: 1, acquireTimeoutMs: 2000 },
            tokens: [{ token: newToken() }],
            cache: { enabled: true },
          },
        },
      },
    )
  })
  afterAll(async () => {
    await t.close()
    await new Promise((resolve) => fake.server.close(resolve))
  })

  const expectNoSecret = (text: string) => {
    for (const spelling of SPELLINGS) expect(text).not.toContain(spelling)
  }
  const get = async (path: string, token?: string) =>
    (
      await t.gateway.app.request(path, {
        headers: token === undefined ? {} : { Authorization: `Bearer ${token}` },
      })
    ).text()

  it('reaches the driver: the server really quotes the password it was sent', async () => {
    const client = new pg.Client({
      host: '127.0.0.1',
      port: fake.port,
      user: 'app',
      password: PASSWORD,
      database: 'app',
    })
    const error = await client.connect().then(
      () => undefined,
      (e: Error) => e,
    )
    await client.end().catch(() => {})
    expect(error?.message).toContain(PASSWORD)
  })

  it('shows in no answer, log line, /readyz, /metrics or /admin', async () => {
    const before = fake.seen.length
    const answers: string[] = []
    for (const path of ['/v1/query', '/sql']) {
      const res = await fetch(`http://${t.httpHost}${path}`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${downToken}` },
        body: JSON.stringify(path === '/sql' ? { query: 'select 1' } : { sql: 'select 1' }),
      })
      expect(res.status).toBe(503)
      answers.push(await res.text())
    }
    const batch = await fetch(`http://${t.httpHost}/v1/batch`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${downToken}` },
      body: JSON.stringify({ statements: [{ sql: 'select 1' }] }),
    })
    answers.push(await batch.text())
    // Over the PostgreSQL protocol: the session cannot start without a backend.
    const client = new pg.Client(t.pgConfig(downToken))
    client.on('error', () => {})
    const wireError = await client.connect().then(
      () => undefined,
      (e: Error) => e,
    )
    await client.end().catch(() => {})
    expect(wireError).toBeInstanceOf(Error)
    answers.push(JSON.stringify({ ...wireError, message: wireError?.message }))

    expect(fake.seen.length).toBeGreaterThan(before)
    expect(fake.seen.every((seen) => seen === PASSWORD)).toBe(true)
    await eventually(() => logs.includes('cannot connect to the database'))
    await eventually(() => logs.includes('the cache lost its invalidation channel'))
    answers.push(
      logs,
      await get('/readyz'),
      await get('/metrics'),
      await get('/admin/config', adminToken),
      await get('/admin/tenants', adminToken),
    )
    for (const text of answers) expectNoSecret(text)
  })

  it("keeps the test database's own password out of /admin/config and the logs", async (ctx) => {
    const password = new URL(databaseUrl()).password
    // A TEST_DATABASE_URL without a password leaves nothing to look for.
    if (password === '') ctx.skip()
    const config = await get('/admin/config', adminToken)
    expect(config).toContain('[redacted]')
    for (const text of [config, logs]) {
      expect(text).not.toContain(password)
      expect(text).not.toContain(encodeURIComponent(password))
    }
  })
})
