import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient, type Client } from '../../edge/index.js'
import { createDatabase, type TestDatabase } from '../helpers/cache.js'
import { listenTestGateway, type ListeningGateway } from '../helpers/gateway.js'

describe('the edge client and the query cache', () => {
  let database: TestDatabase
  let t: ListeningGateway
  let db: Client
  const seen: (string | null)[] = []

  beforeAll(async () => {
    database = await createDatabase('cache_edge')
    await database.sql(`create table plans (id int primary key, name text);
      insert into plans values (1, 'free'), (2, 'pro')`)
    t = await listenTestGateway({ connection: { url: database.url }, cache: { enabled: true } })
    // The client does not surface the header: a fetch of our own reads it.
    db = createClient({
      url: t.url,
      token: t.token,
      fetch: async (url, init) => {
        const response = await fetch(url, init)
        seen.push(response.headers.get('sluice-cache'))
        return response
      },
    })
  })
  afterAll(async () => {
    await t?.close()
    await database?.drop()
  })

  it('sends cache with query, and the second read is a hit with the same rows', async () => {
    seen.length = 0
    const ask = { cache: { ttlMs: 60_000, tags: ['plans'] } }
    const first = await db.query('select id, name from plans where id = $1', [2], ask)
    const second = await db.query('select id, name from plans where id = $1', [2], ask)
    expect(seen).toEqual(['miss', 'hit'])
    expect(second.rows).toEqual([{ id: 2, name: 'pro' }])
    expect(second).toEqual(first)
  })

  it('takes options on the sql tag: sql(options)`…`', async () => {
    seen.length = 0
    const cached = db.sql({ cache: { ttlMs: 60_000 } })
    expect(await cached<{ name: string }>`select name from plans where id = ${1}`).toEqual([
      { name: 'free' },
    ])
    expect(await cached`select name from plans where id = ${1}`).toEqual([{ name: 'free' }])
    expect(await db.sql`select name from plans where id = ${1}`).toEqual([{ name: 'free' }])
    expect(seen).toEqual(['miss', 'hit', null])
  })

  it('sees its own write at once, and ignores cache inside a transaction', async () => {
    seen.length = 0
    const read = () => db.query('select name from plans where id = 1', [], { cache: {} })
    await read()
    await db.transaction(async (tx) => {
      await tx.query("update plans set name = 'basic' where id = 1")
      const inside = await tx.query('select name from plans where id = 1', [], { cache: {} })
      expect(inside.rows).toEqual([{ name: 'basic' }])
    })
    expect((await read()).rows).toEqual([{ name: 'basic' }])
    expect(seen.filter((s) => s !== null)).toEqual(['miss', 'miss'])
  })
})
