/**
 * A database restart, on a PostgreSQL of this file's own: the cache's listening connection
 * drops with every other, the cache stops answering from memory at once, reconnects, and
 * starts empty, since notifications sent while it was away are lost.
 */
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  startTemporaryPostgres,
  type TemporaryPostgres,
} from '../../../server/embedded/postgres.js'
import { post } from '../../helpers/cache.js'
import { eventually, serveGateway, startTestGateway } from '../../helpers/gateway.js'

let server: TemporaryPostgres
let t: Awaited<ReturnType<typeof startTestGateway>>
let base: string

const read = { sql: 'select v from kv where k = 1', cache: { ttlMs: 600_000 } }
const cache = () => t.gateway.tenants.get('main')!.cache!

async function sql(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: server.url })
  await client.connect()
  try {
    await client.query(text)
  } finally {
    await client.end()
  }
}

beforeAll(async () => {
  server = await startTemporaryPostgres({ prefix: 'sluice-cache-restart-' })
  await sql('create table kv (k int primary key, v text); insert into kv values (1, $$before$$)')
  t = await startTestGateway({ connection: { url: server.url }, cache: { enabled: true } })
  const http = serveGateway(t.gateway)
  await once(http, 'listening')
  base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`
  t.close = ((close) => async () => {
    http.close()
    await close()
  })(t.close)
}, 120_000)

afterAll(async () => {
  await t?.close()
  await server?.stop()
})

describe('the cache across a database restart', () => {
  it('stops serving hits, reconnects its listening connection, and starts empty', async () => {
    await post(base, '/v1/query', read, t.token)
    expect((await post(base, '/v1/query', read, t.token)).cache).toBe('hit')

    await server.restart()
    // A write no notification tells of: only the purge after the gap can reveal it.
    await sql(`update kv set v = 'after' where k = 1`)
    await eventually(() => !cache().live || cache().stats().entries === 0)
    await eventually(() => cache().live, 30_000)
    expect(cache().stats().entries).toBe(0)

    const after = await post(base, '/v1/query', read, t.token)
    expect(after).toMatchObject({ status: 200, cache: 'miss', body: { rows: [['after']] } })
    expect((await post(base, '/v1/query', read, t.token)).cache).toBe('hit')
  })
})
