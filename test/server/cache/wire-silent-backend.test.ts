import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDatabase, post, type TestDatabase } from '../../helpers/cache.js'
import { admin, eventually } from '../../helpers/gateway.js'
import { RawClient, frontend } from '../../helpers/raw-pg.js'
import { startTcpProxy, type TcpProxy } from '../../helpers/tcp-proxy.js'
import { startWireGateway, type WireGateway } from '../../helpers/wire.js'

// A wire client that leaves mid-write while its backend's network has gone silent: the
// pool cannot learn when PostgreSQL is done with the write, and the cache must not wait for
// ever to drop what it may have changed.

const STATEMENT_TIMEOUT_MS = 1_000
const CONNECT_TIMEOUT_MS = 1_000

describe('the cache, when a wire client leaves mid-write behind a silent network', () => {
  let db: TestDatabase
  let proxy: TcpProxy
  let t: WireGateway
  const read = { sql: 'select v from items where id = 1', cache: { ttlMs: 60_000 } }
  const q = () => post(`http://${t.httpHost}`, '/v1/query', read, t.token)

  beforeAll(async () => {
    db = await createDatabase('cache_silent')
    await db.sql(
      `create table items (id int primary key, v text); insert into items values (1, 'a')`,
    )
    proxy = await startTcpProxy()
    const url = new URL(db.url)
    url.port = new URL(proxy.url).port
    t = await startWireGateway({
      connection: { url: url.toString(), connectTimeoutMs: CONNECT_TIMEOUT_MS },
      statementTimeoutMs: STATEMENT_TIMEOUT_MS,
      pool: { min: 0, max: 3 },
      cache: { enabled: true },
    })
  })
  afterAll(async () => {
    await t?.close()
    await proxy?.close()
    await db?.drop()
  })

  it('drops what it may have written once the close gives up, and ends the backend before dropping it again', async () => {
    const write = "update items set v = 'b' where id = 1"
    const client = await RawClient.connect(t.pgPort, t.token)
    // The write once, so the catalog knows it; then the read cached again.
    client.send(frontend.query(write))
    await client.cycle()
    await q()
    expect((await q()).cache).toBe('hit')
    // A session advisory lock pins the session to its backend: the one whose link freezes.
    client.send(frontend.query('select pg_advisory_lock(7)'))
    await client.cycle()
    client.send(frontend.query('select pg_backend_pid()'))
    const row = (await client.until('Z')).find((m) => m.type === 'D')!
    const pid = Number(row.body.toString('utf8', 6))
    const link = proxy.links.find((l) => l.sent().includes('select pg_backend_pid()'))!
    link.freeze()

    client.send(frontend.query(write))
    // The pinned session forwards it as it reads it, before it reads the close behind it.
    client.socket.destroy()

    // Within the statement timeout and the check timeout, not never.
    await eventually(async () => (await q()).cache !== 'hit')
    // PostgreSQL's side of the silent link is ended from another connection.
    await eventually(
      async () =>
        (await admin('select 1 from pg_stat_activity where pid = $1', [pid])).length === 0,
    )
    // Nothing borrowed is left behind: the terminating connection went back too.
    await eventually(() => t.gateway.tenants.get('main')!.pool.stats().poolInUse === 0)
  })
})
