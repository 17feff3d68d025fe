/**
 * The lease: a gateway that stops hearing its database (a network cut that later heals)
 * stops answering from memory within the lease, so a write made meanwhile through another
 * gateway, which cannot get its acknowledgement, still answers after its deadline without
 * any later read returning the old value.
 */
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createDatabase,
  post,
  startPausableProxy,
  type PausableProxy,
  type TestDatabase,
} from '../../helpers/cache.js'
import { eventually, newToken, serveGateway, startTestGateway } from '../../helpers/gateway.js'

type Listening = Awaited<ReturnType<typeof startTestGateway>> & { base: string }

// Two processes on one database: they share the channel's key (docs/cache.md).
const cacheSecret = newToken() + newToken()

let db: TestDatabase
let proxy: PausableProxy
let near: Listening
let far: Listening

async function listening(url: string): Promise<Listening> {
  const t = await startTestGateway(
    { connection: { url }, cache: { enabled: true } },
    { server: { cacheSecret } },
  )
  const server = serveGateway(t.gateway)
  await once(server, 'listening')
  return {
    ...t,
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections()
      server.close()
      await t.close()
    },
  }
}

const read = { sql: 'select v from kv where k = 1', cache: { ttlMs: 600_000 } }
const cacheOf = (t: Listening) => t.gateway.tenants.get('main')!.cache!

beforeAll(async () => {
  db = await createDatabase('cache_lease')
  await db.sql(`create table kv (k int primary key, v text); insert into kv values (1, 'old')`)
  proxy = await startPausableProxy(Number(new URL(db.url).port))
  const proxied = new URL(db.url)
  proxied.port = String(proxy.port)
  far = await listening(proxied.toString())
  near = await listening(db.url)
  // Each knows the other (a tick of each reached the other).
  await eventually(() => cacheOf(far).live && cacheOf(near).live)
})
afterAll(async () => {
  proxy?.resume()
  await Promise.all([near?.close(), far?.close()])
  await proxy?.close()
  await db?.drop()
})

describe('the lease of a cache cut off from its database', () => {
  it('stops its hits, and the write it cannot acknowledge is still never read stale', async () => {
    await post(far.base, '/v1/query', read, far.token)
    expect((await post(far.base, '/v1/query', read, far.token)).cache).toBe('hit')

    proxy.pause()
    await eventually(() => !cacheOf(far).live, 5_000)
    const started = performance.now()
    const write = await post(
      near.base,
      '/v1/query',
      { sql: "update kv set v = 'new' where k = 1" },
      near.token,
    )
    expect(write.status).toBe(200)
    // Answered once the far gateway's lease was surely gone, not sooner.
    expect(performance.now() - started).toBeGreaterThanOrEqual(1000)

    // A read after the write, decided while the cut lasts: the far gateway may not answer
    // from memory. It reads the database, which it reaches once the cut heals.
    const { hits, bypasses } = cacheOf(far).stats()
    const late = post(far.base, '/v1/query', read, far.token)
    await eventually(() => {
      const now = cacheOf(far).stats()
      return now.hits + now.bypasses > hits + bypasses
    })
    proxy.resume()
    expect(await late).toMatchObject({ status: 200, body: { rows: [['new']] } })
    await eventually(() => cacheOf(far).live)
    expect((await post(far.base, '/v1/query', read, far.token)).body.rows).toEqual([['new']])
  })
})
