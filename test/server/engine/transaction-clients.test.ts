/**
 * Interactive transactions through a listening gateway, with the clients a gateway must
 * survive: ones that leave mid-way, send requests at once, or try what their token may not.
 */
import { request as httpRequest, type Server } from 'node:http'
import { connect, type AddressInfo, type Socket } from 'node:net'
import pg from 'pg'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  admin,
  backends,
  databaseUrl,
  eventually,
  serveGateway,
  startTestGateway,
  type TestGateway,
} from '../../helpers/gateway.js'

describe('interactive transactions over a listening gateway', () => {
  let t: TestGateway
  let server: Server
  let base: string
  /** The gateway side of each connection, by the client's port. */
  const sockets = new Map<number, Socket>()
  beforeAll(async () => {
    t = await startTestGateway({ pool: { min: 0, max: 4 } })
    server = serveGateway(t.gateway)
    server.on('connection', (socket: Socket) => sockets.set(socket.remotePort!, socket))
    await new Promise((resolve) => server.once('listening', resolve))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    await admin('create table if not exists tx_clients_probe (id int primary key)')
  })
  afterAll(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
    await t.close()
  })
  afterEach(async () => {
    await eventually(() => t.gateway.transactions.count() === 0)
    await eventually(() => t.gateway.tenants.get('main')!.pool.stats().poolInUse === 0)
    await admin('truncate tx_clients_probe')
  })

  const post = async (path: string, body: unknown, token = t.token) => {
    const res = await fetch(base + path, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    })
    return { status: res.status, body: (await res.json()) as any }
  }
  const begin = async (body: unknown = {}, token = t.token) => {
    const res = await post('/v1/transactions', body, token)
    expect(res.status, JSON.stringify(res.body)).toBe(201)
    return res.body.id as string
  }
  const ids = async () =>
    (await admin('select id from tx_clients_probe order by id')).map((r) => r.id)
  const waitingOnLock = async () =>
    (
      await admin(
        "select pid from pg_stat_activity where application_name = $1 and wait_event_type = 'Lock'",
        [t.applicationName],
      )
    ).length

  /**
   * Sends a request on a connection of its own and closes it once the request is written;
   * resolves once the gateway has seen the connection close.
   */
  const sendAndLeave = async (path: string, body: unknown): Promise<void> => {
    const text = JSON.stringify(body)
    const req = httpRequest(`${base}${path}`, {
      method: 'POST',
      agent: false,
      headers: { Authorization: `Bearer ${t.token}`, 'Content-Length': Buffer.byteLength(text) },
    })
    req.on('error', () => {})
    const socket = await new Promise<Socket>((resolve) => req.once('socket', resolve))
    await new Promise((resolve) => socket.once('connect', resolve))
    const local = socket.localPort!
    await new Promise<void>((resolve) => req.end(text, resolve))
    await eventually(() => sockets.has(local))
    const gatewaySide = sockets.get(local)!
    // The request must be read (and waiting its turn) before the client leaves.
    await eventually(() => gatewaySide.bytesRead >= Buffer.byteLength(text))
    const closed = new Promise((resolve) => gatewaySide.once('close', resolve))
    req.destroy()
    await closed
  }

  it('tells a later request that a transaction whose COMMIT failed was rolled back, not committed', async () => {
    await admin(
      'create table if not exists tx_clients_deferred (id int unique deferrable initially deferred)',
    )
    await admin('truncate tx_clients_deferred')
    // An aborted transaction, whose COMMIT PostgreSQL turns into a ROLLBACK, and one whose
    // deferred constraint fails at COMMIT.
    const aborted = await begin()
    expect((await post(`/v1/transactions/${aborted}/query`, { sql: 'select 1/0' })).status).toBe(
      400,
    )
    const deferred = await begin()
    expect(
      (
        await post(`/v1/transactions/${deferred}/query`, {
          sql: 'insert into tx_clients_deferred values (1), (1)',
        })
      ).status,
    ).toBe(200)
    for (const id of [aborted, deferred]) {
      const commit = await post(`/v1/transactions/${id}/commit`, {})
      expect(commit.status).toBe(400)
      const again = await post(`/v1/transactions/${id}/commit`, {})
      expect(again.body.error.code).toBe('TX_NOT_FOUND')
      expect(again.body.error.message).toContain('rolled back')
      expect(again.body.error.message).not.toContain('committed')
    }
    expect(await admin('select * from tx_clients_deferred')).toEqual([])
  })

  it('runs statements sent at once one at a time, and a commit among them keeps exactly those before it', async () => {
    const locker = new pg.Client({ connectionString: databaseUrl() })
    await locker.connect()
    try {
      await locker.query('select pg_advisory_lock(4712)')
      const id = await begin()
      const txid = await post(`/v1/transactions/${id}/query`, {
        sql: 'select txid_current()::text',
      })
      // A first statement waits on a lock, so everything sent next waits its turn behind it.
      const first = post(`/v1/transactions/${id}/query`, {
        sql: 'select pg_advisory_xact_lock(4712)',
      })
      await eventually(async () => (await waitingOnLock()) === 1)
      const insert = (i: number) =>
        post(`/v1/transactions/${id}/query`, {
          sql: `insert into tx_clients_probe values (${i}) returning txid_current()::text`,
        })
      const before = [0, 1, 2, 3, 4, 5].map(insert)
      const commit = post(`/v1/transactions/${id}/commit`, {})
      const after = [6, 7, 8, 9, 10, 11].map(insert)
      await eventually(() => t.gateway.lifecycle.inFlight === 14)
      await locker.query('select pg_advisory_unlock(4712)')
      expect((await first).status).toBe(200)
      const answers = await Promise.all([...before, ...after])
      expect((await commit).body).toEqual({ committed: true })
      const ran = answers.flatMap((answer, i) => (answer.status === 200 ? [i] : []))
      for (const answer of answers) {
        // Each ran inside the transaction, or not at all: never on its connection after it.
        if (answer.status === 200) expect(answer.body.rows).toEqual(txid.body.rows)
        else {
          expect(answer.status).toBe(404)
          expect(answer.body.error.message).toMatch(/is over: it (was|is being) committed$/)
        }
      }
      expect(await ids()).toEqual(ran)
    } finally {
      await locker.end()
    }
  })

  it('refuses transaction control inside, pointing at its own commit and rollback', async () => {
    const id = await begin()
    for (const sql of ['commit', "prepare transaction 'x'", 'begin', 'rollback']) {
      const res = await post(`/v1/transactions/${id}/query`, { sql })
      expect(res.status, sql).toBe(400)
      expect(res.body.error.message).toContain(`POST /v1/transactions/${id}/commit or /rollback`)
    }
    // The refusal cost nothing: the transaction goes on.
    expect((await post(`/v1/transactions/${id}/query`, { sql: 'select 1' })).status).toBe(200)
    expect((await post(`/v1/transactions/${id}/rollback`, {})).body).toEqual({ committed: false })
  })

  it('cancels a streamed statement whose client leaves mid-stream, ends the transaction and returns its connection clean', async () => {
    const id = await begin()
    await post(`/v1/transactions/${id}/query`, { sql: 'insert into tx_clients_probe values (7)' })
    const body = JSON.stringify({
      sql: "select n, repeat('x', 1000) from (select generate_series(1, 40000) as n) s",
    })
    const socket = connect(Number(new URL(base).port), '127.0.0.1')
    let seen = 0
    const streaming = new Promise<void>((resolve) => {
      socket.on('data', (chunk: Buffer) => {
        seen += chunk.length
        if (seen >= 100_000) {
          socket.pause()
          resolve()
        }
      })
    })
    socket.write(
      `POST /v1/transactions/${id}/query HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t.token}\r\n` +
        `Accept: application/x-ndjson\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    )
    await streaming
    socket.destroy()
    await eventually(() => t.gateway.transactions.count() === 0)
    const late = await post(`/v1/transactions/${id}/commit`, {})
    expect(late.status).toBe(404)
    expect(late.body.error.message).toContain('its client went away')
    expect(await ids()).toEqual([])
    await eventually(async () =>
      (await backends(t.applicationName)).every((b) => b.state === 'idle'),
    )
  })

  it('does not run a statement whose client left while it waited its turn, and ends the transaction', async () => {
    const locker = new pg.Client({ connectionString: databaseUrl() })
    await locker.connect()
    try {
      await locker.query('select pg_advisory_lock(4711)')
      const id = await begin()
      // The first statement waits on a lock, so the second waits behind it.
      const first = post(`/v1/transactions/${id}/query`, {
        sql: 'select pg_advisory_xact_lock(4711)',
      })
      await eventually(async () => (await waitingOnLock()) === 1)
      await sendAndLeave(`/v1/transactions/${id}/query`, {
        sql: 'insert into tx_clients_probe values (1)',
      })
      await locker.query('select pg_advisory_unlock(4711)')
      expect((await first).status).toBe(200)
      // The insert never ran, and the transaction is over: a commit cannot keep it.
      const commit = await post(`/v1/transactions/${id}/commit`, {})
      expect(commit.status).toBe(404)
      expect(commit.body.error.code).toBe('TX_NOT_FOUND')
      expect(commit.body.error.message).toContain('its client went away')
      expect(await ids()).toEqual([])
    } finally {
      await locker.end()
    }
  })
})
