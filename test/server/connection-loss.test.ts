/**
 * A connection lost in the middle of a statement: the statement may have run, so the answer
 * is DB_UNAVAILABLE with `retryable: false`, and the edge client never sends it again (a
 * write would run twice). Over real sockets, two ways: the backend killed with
 * pg_terminate_backend (PostgreSQL says 57P01 before it closes), and the socket cut without
 * a word (a TCP proxy in between).
 */
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient, type Fetch } from '../../edge/index.js'
import { caught } from '../helpers/caught.js'
import {
  admin,
  databaseUrl,
  eventually,
  type ListeningGateway,
  listenTestGateway,
} from '../helpers/gateway.js'
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js'

/** The backend of `t` running `pg_sleep(30)`, once it runs. */
async function sleeper(t: ListeningGateway): Promise<number> {
  let pid = 0
  await eventually(async () => {
    const rows = await admin(
      "select pid from pg_stat_activity where application_name = $1 and state = 'active' and query like '%pg_sleep(30)%'",
      [t.applicationName],
    )
    pid = rows[0]?.pid ?? 0
    return pid !== 0
  })
  return pid
}

/** POSTs over the socket and reads the JSON answer. */
async function send(t: ListeningGateway, path: string, body: unknown) {
  const res = await fetch(`${t.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${t.token}` },
    body: JSON.stringify(body),
  })
  return { status: res.status, body: (await res.json()) as any }
}

const LOST = { code: 'DB_UNAVAILABLE', retryable: false }

describe('a backend killed mid-statement (pg_terminate_backend)', () => {
  let t: ListeningGateway
  const table = `lost_probe_${process.pid}`
  beforeAll(async () => {
    t = await listenTestGateway({ pool: { min: 0, max: 2 }, transactions: { maxOpenShare: 1 } })
    await admin(`create table ${table} (x int)`)
  })
  afterAll(async () => {
    await admin(`drop table if exists ${table}`)
    await t.close()
  })

  const killed = async <T>(running: Promise<T>): Promise<T> => {
    await admin('select pg_terminate_backend($1)', [await sleeper(t)])
    return running
  }

  it('answers a query DB_UNAVAILABLE, not retryable (503)', async () => {
    const answer = await killed(send(t, '/v1/query', { sql: 'select pg_sleep(30)' }))
    expect(answer.status).toBe(503)
    expect(answer.body.error).toMatchObject({ ...LOST, sqlstate: '57P01' })
  })

  it('answers a batch DB_UNAVAILABLE, not retryable, naming the statement', async () => {
    const answer = await killed(
      send(t, '/v1/batch', {
        statements: [{ sql: `insert into ${table} values (1)` }, { sql: 'select pg_sleep(30)' }],
      }),
    )
    expect(answer.status).toBe(503)
    expect(answer.body.error).toMatchObject({ ...LOST, statementIndex: 1 })
  })

  it('answers a transaction statement DB_UNAVAILABLE, not retryable, and ends the transaction', async () => {
    const begun = await send(t, '/v1/transactions', {})
    const answer = await killed(
      send(t, `/v1/transactions/${begun.body.id}/query`, { sql: 'select pg_sleep(30)' }),
    )
    expect(answer.status).toBe(503)
    expect(answer.body.error).toMatchObject(LOST)
    const after = await send(t, `/v1/transactions/${begun.body.id}/commit`, {})
    expect(after.body.error.code).toBe('TX_NOT_FOUND')
  })

  it('is never sent twice by the edge client', async () => {
    let calls = 0
    const fetch: Fetch = (url, init) => {
      calls++
      return globalThis.fetch(url, init)
    }
    const db = createClient({ url: t.url, token: t.token, fetch, retry: { baseDelayMs: 1 } })
    const error = await killed(caught(db.query(`insert into ${table} select 2 from pg_sleep(30)`)))
    expect(error).toMatchObject(LOST)
    expect(calls).toBe(1)
    expect(await admin(`select x from ${table} where x = 2`)).toEqual([])
  })
})

describe('a socket cut mid-statement, with no word from PostgreSQL', () => {
  let proxy: TcpProxy
  let t: ListeningGateway
  beforeAll(async () => {
    proxy = await startTcpProxy()
    t = await listenTestGateway({ connection: { url: proxy.url }, pool: { min: 0, max: 1 } })
  })
  afterAll(async () => {
    await t.close()
    await proxy.close()
  })

  it('answers DB_UNAVAILABLE, not retryable, and the next request gets a new connection', async () => {
    const running = send(t, '/v1/query', { sql: 'select pg_sleep(30)' })
    await sleeper(t)
    for (const link of proxy.links) link.cut()
    const answer = await running
    expect(answer.status).toBe(503)
    expect(answer.body.error).toMatchObject(LOST)
    expect(answer.body.error.sqlstate).toBeUndefined()
    expect((await send(t, '/v1/query', { sql: 'select 1' })).status).toBe(200)
  })
})

describe('a session PostgreSQL ended for idleness just as a statement went out (idle_session_timeout)', () => {
  const role = `sluice_idle_${randomBytes(4).toString('hex')}`
  const password = randomBytes(12).toString('hex')
  const database = new URL(databaseUrl()).pathname.slice(1)
  let proxy: TcpProxy
  let t: ListeningGateway
  beforeAll(async () => {
    await admin(`create role ${role} login password '${password}'`)
    await admin(`grant connect on database "${database}" to ${role}`)
    await admin(`alter role ${role} set idle_session_timeout = '200ms'`)
    proxy = await startTcpProxy()
    const url = new URL(proxy.url)
    url.username = role
    url.password = password
    t = await listenTestGateway({
      connection: { url: url.toString() },
      allowPrivilegedRole: false,
      pool: { min: 1, max: 1, healthCheckAfterIdleMs: 600_000 },
    })
  })
  afterAll(async () => {
    await t.close()
    await proxy.close()
    await admin(`revoke connect on database "${database}" from ${role}`)
    await admin(`drop role if exists ${role}`)
  })

  it('answers DB_UNAVAILABLE (503) with the sqlstate, not a DATABASE_ERROR for the SQL (400)', async () => {
    const pool = t.gateway.tenants.get('main')!.pool
    await eventually(() => pool.stats().poolAvailable === 1 && proxy.links[0]!.quiet())
    // What PostgreSQL says when it ends the idle session reaches the gateway only once the
    // statement is on its way, as when the two cross on the network.
    const link = proxy.links[0]!
    const held = link.hold()
    await eventually(
      async () =>
        (await admin('select 1 from pg_stat_activity where usename = $1', [role])).length === 0,
    )
    const answering = send(t, '/v1/query', { sql: 'select 1' })
    await eventually(() => link.sent().includes('select 1'))
    held.release()
    const answer = await answering
    expect(answer.status).toBe(503)
    expect(answer.body.error).toMatchObject({ code: 'DB_UNAVAILABLE', sqlstate: '57P05' })
    await eventually(() => pool.stats().poolAvailable === 1)
    expect((await send(t, '/v1/query', { sql: 'select 2' })).status).toBe(200)
  })
})
