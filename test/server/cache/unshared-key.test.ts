/**
 * Two gateways on one database that do not share the channel's key (two `npm start`s
 * without `server.cacheSecret`): neither can verify the other, so neither can wait for the
 * other's acknowledgements. Each says so in its log, naming what to configure, and answers
 * from the database while it hears the other, so a write through either is never followed by
 * a stale read through the other; once the other is gone, it serves from memory again.
 */
import { Writable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../../server/log/logger.js'
import { createDatabase, post, type TestDatabase } from '../../helpers/cache.js'
import { eventually, listenTestGateway, type ListeningGateway } from '../../helpers/gateway.js'

let db: TestDatabase
let first: ListeningGateway
let second: ListeningGateway | undefined
const logs: Record<string, any>[] = []

const read = { sql: 'select v from kv where k = 1', cache: { ttlMs: 600_000 } }
const cacheOf = (t: ListeningGateway) => t.gateway.tenants.get('main')!.cache!

beforeAll(async () => {
  db = await createDatabase('cache_keys')
  await db.sql(`create table kv (k int primary key, v text); insert into kv values (1, 'old')`)
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line) logs.push(JSON.parse(line))
      done()
    },
  })
  first = await listenTestGateway(
    { connection: { url: db.url }, cache: { enabled: true } },
    { logger: createLogger({ level: 'warn' }, stream) },
  )
  await eventually(() => cacheOf(first).live)
})

afterAll(async () => {
  await Promise.all([first?.close(), second?.close()])
  await db?.drop()
})

describe('two gateways on one database with different keys', () => {
  it('answer from the database while they hear each other, and say what to configure', async () => {
    await post(first.url, '/v1/query', read, first.token)
    expect((await post(first.url, '/v1/query', read, first.token)).cache).toBe('hit')

    second = await listenTestGateway({ connection: { url: db.url }, cache: { enabled: true } })
    const warned = () => logs.filter((l) => /not signed with this gateway's key/.test(l.msg))
    await eventually(() => warned().length > 0)
    expect(warned()[0]).toMatchObject({ level: 'warn', tenant: 'main' })
    expect(warned()[0]!.msg).toContain('server.cacheSecret')
    expect(cacheOf(first).stats().rejected.signature).toBeGreaterThan(0)

    // Neither serves from memory, so a write through one is never read stale through the other.
    for (const g of [first, second]) {
      expect(cacheOf(g).live).toBe(false)
      expect((await post(g.url, '/v1/query', read, g.token)).cache).toBe('bypass')
    }
    const write = await post(
      second.url,
      '/v1/query',
      { sql: "update kv set v = 'new' where k = 1" },
      second.token,
    )
    expect(write.status).toBe(200)
    expect(await post(first.url, '/v1/query', read, first.token)).toMatchObject({
      cache: 'bypass',
      body: { rows: [['new']] },
    })
    // Once in a while, not at every message.
    expect(warned()).toHaveLength(1)
  })

  it('serves from memory again once the other has been quiet for a while', async () => {
    await second!.close()
    second = undefined
    await eventually(() => cacheOf(first).live)
    await post(first.url, '/v1/query', read, first.token)
    expect((await post(first.url, '/v1/query', read, first.token)).cache).toBe('hit')
  })
})
