import { once } from 'node:events'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import type { AddressInfo } from 'node:net'
import pg from 'pg'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { KEPT_STATEMENT_BYTES } from '../../../server/engine/written-statements.js'
import { createDatabase, post, type TestDatabase } from '../../helpers/cache.js'
import { eventually, newToken, serveGateway, startTestGateway } from '../../helpers/gateway.js'
import { RawClient, frontend } from '../../helpers/raw-pg.js'
import { startWireGateway, type WireGateway } from '../../helpers/wire.js'

const adminToken = newToken()
// Two gateways share the first database below: their caches must share the channel's key.
const cacheSecret = newToken() + newToken()
let db: TestDatabase
let other: TestDatabase
let t: WireGateway
let base: string
let otherToken: string

const read = (id = 1, extra: Record<string, unknown> = {}) => ({
  sql: 'select id, v from items where id = $1',
  params: [id],
  cache: { ttlMs: 60_000, ...extra },
})
const q = (body: unknown, token = t.token) => post(base, '/v1/query', body, token)
const stats = () => t.gateway.tenants.get('main')!.cache!.stats()

beforeAll(async () => {
  ;[db, other] = await Promise.all([createDatabase('cache_q'), createDatabase('cache_q2')])
  for (const d of [db, other]) {
    await d.sql(`create table items (id int primary key, v text);
      insert into items select g, 'v' || g from generate_series(1, 50) g;
      create table notes (id int primary key, item int references items on delete cascade, t text);
      create sequence counter;
      create function bump() returns int language sql volatile as 'select 1';
      create function twice(int) returns int language sql immutable as 'select $1 * 2';
      create view item_view as select id, v from items where id > 0;
      create view clock_view as select id, now() as t from items;
      create schema alt;
      create table alt.items (id int primary key, v text);
      insert into alt.items values (1, 'alt');
      -- A trigger that takes the name of Sluice's own but writes another table.
      create table src (id int);
      create table dst (n int);
      insert into dst values (0);
      create function impostor() returns trigger language plpgsql as $$
        begin update dst set n = n + 1; return null; end $$;
      create trigger sluice_cache_notify after insert on src
        for each statement execute function impostor()`)
  }
  await other.sql(`update items set v = 'other' || id`)
  otherToken = newToken()
  t = await startWireGateway(
    { connection: { url: db.url }, cache: { enabled: true } },
    {
      server: { adminToken, cacheSecret },
      extraTenants: {
        other: {
          allowPrivilegedRole: true,
          connection: { url: other.url },
          tokens: [{ token: otherToken }],
          pool: { min: 0 },
          cache: { enabled: true },
        },
      },
    },
  )
  base = `http://${t.httpHost}`
})
afterAll(async () => {
  await t?.close()
  await Promise.all([db?.drop(), other?.drop()])
})
beforeEach(async () => {
  await t.gateway.admin.purgeCache('main')
  await db.sql(`update items set v = 'v' || id`)
})

describe('the query cache, over a listening gateway', () => {
  it('answers a repeated read from memory with the body the database gave', async () => {
    const plain = await q({ sql: read().sql, params: [1] })
    expect(plain.cache).toBeNull()
    const first = await q(read())
    const second = await q(read())
    expect([first.cache, second.cache]).toEqual(['miss', 'hit'])
    expect(second.body).toEqual(plain.body)
    expect(first.body).toEqual(plain.body)
    expect(stats()).toMatchObject({ hits: 1, misses: 1, entries: 1, live: true })
  })

  it('answers the same on the direct path and through the Hono app', async () => {
    await q(read(2))
    const direct = await q(read(2))
    const viaApp = await t.post('/v1/query', read(2))
    expect(viaApp.headers.get('sluice-cache')).toBe(direct.cache)
    expect(viaApp.headers.get('content-type')).toMatch(/^application\/json/)
    expect(await viaApp.json()).toEqual(direct.body)
  })

  it('keys on the parameters, so each value gets its own entry', async () => {
    expect((await q(read(3))).cache).toBe('miss')
    expect((await q(read(4))).cache).toBe('miss')
    expect((await q(read(3))).body.rows).toEqual([['3', 'v3']])
    expect((await q(read(4))).body.rows).toEqual([['4', 'v4']])
  })

  it.each([
    ['now()', 'select now()'],
    ['current_timestamp', 'select current_timestamp'],
    ['random()', 'select random()'],
    ['nextval()', "select nextval('counter')"],
    ['a volatile user function', 'select bump()'],
    ["a 'now' literal", "select 'now'::timestamptz"],
    ["a 'now' literal padded with spaces", "select '        now        '::timestamptz"],
    ["a 'tomorrow 10:00' literal", "select timestamptz 'tomorrow 10:00'"],
    ['a view that calls now()', 'select * from clock_view where id = 1'],
    ['a sequence', 'select last_value from counter'],
    ['the system catalog', 'select relname from pg_class limit 1'],
    ['FOR UPDATE', 'select * from items where id = 1 for update'],
  ])('never caches a read of %s', async (_, sql) => {
    expect((await q({ sql, cache: {} })).cache).toBe('bypass')
    expect((await q({ sql, cache: {} })).cache).toBe('bypass')
  })

  it('caches a read whose comment mentions now(), and reads of immutable functions and views', async () => {
    for (const sql of [
      'select v from items where id = 5 /* not now() */ -- nor random()',
      'select twice(id), lower(v), id + 1 from items where id = 5',
      'select * from item_view where id = 5',
    ]) {
      expect((await q({ sql, cache: {} })).cache).toBe('miss')
      expect((await q({ sql, cache: {} })).cache).toBe('hit')
    }
  })

  it('bypasses a read whose parameter a date type reads as the current time', async () => {
    const sql = 'select $1::timestamptz > $2::timestamptz as later'
    expect((await q({ sql, params: ['now', '2000-01-01'], cache: {} })).cache).toBe('bypass')
    expect((await q({ sql, params: ['2001-01-01', 'today'], cache: {} })).cache).toBe('bypass')
    // PostgreSQL reads the moment's words among others, and skips any amount of space.
    for (const moment of ['yesterday allballs', 'today UTC', `${' '.repeat(20)}NOW `]) {
      const asked = { sql, params: [moment, '2000-01-01'], cache: {} }
      expect((await q(asked)).cache, moment).toBe('bypass')
    }
    // A word that merely holds one is no moment.
    const known = { sql: 'select $1::text as word', params: ['known snowfall'], cache: {} }
    expect((await q(known)).cache).toBe('miss')
    expect((await q({ sql, params: ['2001-01-01', '2000-01-01'], cache: {} })).cache).toBe('miss')
  })

  it('drops what a /v1/query write changed before the write is answered', async () => {
    await q(read(6))
    expect((await q({ sql: "update items set v = 'new' where id = 6" })).status).toBe(200)
    const after = await q(read(6))
    expect(after).toMatchObject({ cache: 'miss', body: { rows: [['6', 'new']] } })
  })

  it('drops what a batch, a committed transaction and /sql wrote; not what a rollback undid', async () => {
    await q(read(7))
    await post(
      base,
      '/v1/batch',
      { statements: [{ sql: "update items set v = 'b' where id = 7" }] },
      t.token,
    )
    expect(await q(read(7))).toMatchObject({ cache: 'miss', body: { rows: [['7', 'b']] } })

    const begin = await post(base, '/v1/transactions', {}, t.token)
    const id = begin.body.id
    await post(
      base,
      `/v1/transactions/${id}/query`,
      { sql: "update items set v = 't' where id = 7" },
      t.token,
    )
    // Not committed yet: the cached value is still the truth for everyone else.
    expect(await q(read(7))).toMatchObject({ cache: 'hit', body: { rows: [['7', 'b']] } })
    await post(base, `/v1/transactions/${id}/commit`, {}, t.token)
    expect(await q(read(7))).toMatchObject({ cache: 'miss', body: { rows: [['7', 't']] } })

    const rolled = (await post(base, '/v1/transactions', {}, t.token)).body.id
    await post(
      base,
      `/v1/transactions/${rolled}/query`,
      { sql: "update items set v = 'r' where id = 7" },
      t.token,
    )
    await post(base, `/v1/transactions/${rolled}/rollback`, {}, t.token)
    expect(await q(read(7))).toMatchObject({ cache: 'hit', body: { rows: [['7', 't']] } })

    const neon = await post(
      base,
      '/sql',
      { query: "update items set v = 'n' where id = 7", params: [] },
      t.token,
    )
    expect(neon.status).toBe(200)
    expect(await q(read(7))).toMatchObject({ cache: 'miss', body: { rows: [['7', 'n']] } })
  })

  it('drops what a transaction wrote even after it ran more statement text than the gateway keeps for that', async () => {
    await q(read(10))
    const id = (await post(base, '/v1/transactions', {}, t.token)).body.id
    const tx = (sql: string) => post(base, `/v1/transactions/${id}/query`, { sql }, t.token)
    expect((await tx("update items set v = 'long' where id = 10")).status).toBe(200)
    const pad = 'x'.repeat(KEPT_STATEMENT_BYTES / 4)
    for (let i = 0; i < 5; i++) expect((await tx(`select ${i} -- ${pad}`)).status).toBe(200)
    const all = stats().invalidations.all
    expect((await post(base, `/v1/transactions/${id}/commit`, {}, t.token)).status).toBe(200)
    expect(stats().invalidations.all).toBe(all + 1)
    expect(await q(read(10))).toMatchObject({ cache: 'miss', body: { rows: [['10', 'long']] } })
  })

  it('keeps entries when a write fails in PostgreSQL (nothing was committed)', async () => {
    await q(read(8))
    const failed = await q({ sql: 'update items set id = null where id = 8' })
    expect(failed.status).toBe(400)
    expect((await q(read(8))).cache).toBe('hit')
  })

  it('drops what a write through the PostgreSQL protocol changed before its ReadyForQuery', async () => {
    await q(read(9))
    const client = new pg.Client(t.pgConfig())
    await client.connect()
    try {
      await client.query("update items set v = 'wire' where id = $1", [9])
      expect(await q(read(9))).toMatchObject({ cache: 'miss', body: { rows: [['9', 'wire']] } })
      await client.query('begin')
      await client.query("update items set v = 'wire2' where id = 9")
      await client.query('commit')
      expect(await q(read(9))).toMatchObject({ cache: 'miss', body: { rows: [['9', 'wire2']] } })
    } finally {
      await client.end()
    }
  })

  it('drops what a PostgreSQL-protocol COMMIT wrote when its client left before the answer', async () => {
    await q(read(14))
    expect((await q(read(14))).cache).toBe('hit')
    const client = await RawClient.connect(t.pgPort, t.token)
    client.send(frontend.query("begin; update items set v = 'left' where id = 14"))
    expect((await client.cycle()).status).toBe('T')
    // The COMMIT goes out and the client is gone before its ReadyForQuery: the backend
    // commits all the same.
    client.send(frontend.query('commit'))
    client.socket.destroy()
    const committed = async () =>
      (await db.sql(`select v from items where id = 14`))[0]?.v === 'left'
    await eventually(committed)
    await eventually(async () => (await q(read(14))).cache !== 'hit')
    expect(await q(read(14))).toMatchObject({ body: { rows: [['14', 'left']] } })
  })

  it('drops what statements wrote after a change of search_path made their names mean other tables', async () => {
    const alt = { sql: 'select v from alt.items where id = 1', cache: {} }
    const expectAlt = async (v: string) => {
      expect(await q(alt)).toMatchObject({ cache: 'miss', body: { rows: [[v]] } })
      expect((await q(alt)).cache).toBe('hit')
    }
    const write = (v: string) => ({ sql: `update items set v = '${v}' where id = 1` })
    await q(alt)
    expect((await q(alt)).cache).toBe('hit')
    const batch = (first: string, v: string) =>
      post(base, '/v1/batch', { statements: [{ sql: first }, write(v)] }, t.token)
    expect((await batch('set local search_path = alt', 'by set')).status).toBe(200)
    await expectAlt('by set')
    const setConfig = "select set_config('search_path', 'alt', true)"
    expect((await batch(setConfig, 'by set_config')).status).toBe(200)
    await expectAlt('by set_config')

    // On the PostgreSQL protocol, a session's SET lasts past its transaction.
    const client = new pg.Client(t.pgConfig())
    await client.connect()
    try {
      await client.query('set search_path = alt')
      await client.query(write('wire').sql)
      await expectAlt('wire')
      await client.query('begin')
      await client.query(write('wire tx').sql)
      await client.query('commit')
      await expectAlt('wire tx')
    } finally {
      await client.end()
    }
    // Or one it gave at connect time.
    const configured = new pg.Client({ ...t.pgConfig(), options: '-c search_path=alt' })
    await configured.connect()
    try {
      await configured.query(write('wire options').sql)
      await expectAlt('wire options')
    } finally {
      await configured.end()
    }
    await db.sql(`update alt.items set v = 'alt'`)
  })

  it("takes only Sluice's own trigger function for its trigger, not any trigger of that name", async () => {
    const count = { sql: 'select n from dst', cache: {} }
    const before = Number((await q(count)).body.rows[0][0])
    expect((await q(count)).cache).toBe('hit')
    expect((await q({ sql: 'insert into src values (1)' })).status).toBe(200)
    expect(await q(count)).toMatchObject({ cache: 'miss', body: { rows: [[String(before + 1)]] } })
  })

  it('follows writes through foreign keys that cascade, and through views', async () => {
    const notes = { sql: 'select count(*) from notes', cache: {} }
    await db.sql(`insert into notes values (1, 10, 'x')`)
    expect((await q(notes)).body.rows).toEqual([['1']])
    expect((await q(notes)).cache).toBe('hit')
    await q({ sql: 'delete from items where id = 10' })
    expect(await q(notes)).toMatchObject({ cache: 'miss', body: { rows: [['0']] } })
    await db.sql(`insert into items values (10, 'v10')`)

    const view = { sql: 'select v from item_view where id = 11', cache: {} }
    await q(view)
    await q({ sql: "update item_view set v = 'via view' where id = 11" })
    expect(await q(view)).toMatchObject({ cache: 'miss', body: { rows: [['via view']] } })
  })

  it('empties the cache after DDL and after a statement whose writes it cannot prove', async () => {
    await q(read(12))
    await q({ sql: 'select bump()' })
    expect((await q(read(12))).cache).toBe('miss')
    await q({ sql: 'do $$ begin perform 1; end $$' })
    expect((await q(read(12))).cache).toBe('miss')
    await q({ sql: 'create table if not exists scratch (id int)' })
    expect((await q(read(12))).cache).toBe('miss')
    expect(stats().invalidations.all).toBeGreaterThanOrEqual(3)
  })

  it('keeps readonly and readwrite callers apart', async () => {
    expect((await q(read(13), t.readonlyToken)).cache).toBe('miss')
    expect((await q(read(13), t.readonlyToken)).cache).toBe('hit')
    expect((await q(read(13))).cache).toBe('miss')
    expect((await q(read(13))).cache).toBe('hit')
    // A readonly caller cannot write, with or without the cache.
    const refused = await q({ sql: "update items set v = 'ro' where id = 13" }, t.readonlyToken)
    expect(refused.body.error.code).toBe('FORBIDDEN')
  })

  it('keeps tenants apart, even for the same statement', async () => {
    expect((await q(read(14))).body.rows).toEqual([['14', 'v14']])
    expect((await q(read(14), otherToken)).body.rows).toEqual([['14', 'other14']])
    expect((await q(read(14), otherToken)).cache).toBe('hit')
    expect((await q(read(14))).body.rows).toEqual([['14', 'v14']])
  })

  it('ignores cache inside a transaction and in a batch', async () => {
    const id = (await post(base, '/v1/transactions', {}, t.token)).body.id
    const inside = await post(base, `/v1/transactions/${id}/query`, read(15), t.token)
    expect(inside.status).toBe(200)
    expect(inside.cache).toBeNull()
    await post(base, `/v1/transactions/${id}/rollback`, {}, t.token)
    const batch = await post(base, '/v1/batch', { statements: [read(15)] }, t.token)
    expect(batch.status).toBe(200)
    expect(stats().entries).toBe(0)
  })

  it('shares one database read among concurrent misses of the same key', async () => {
    const slow = {
      sql: 'select count(*) from generate_series(1, 300000) g, items where items.id = 1',
      cache: {},
    }
    const acquires = () => t.gateway.tenants.get('main')!.pool.stats().requestsNum
    await q({ sql: slow.sql })
    const before = acquires()
    const answers = await Promise.all(Array.from({ length: 12 }, () => q(slow)))
    expect(answers.every((a) => a.status === 200 && a.body.rows[0][0] === '300000')).toBe(true)
    // One read for all of them (the catalog was already asked by the plain run above).
    expect(acquires() - before).toBe(1)
  })

  it("holds a read that shares another's database read to its own timeoutMs", async () => {
    const blocked = { sql: 'select v from items where id = 20', cache: {} }
    // A transaction holds the table; a read that allows itself a minute waits for it.
    const tx = (await post(base, '/v1/transactions', { idleTimeoutMs: 60_000 }, t.token)).body.id
    await post(base, `/v1/transactions/${tx}/query`, { sql: 'lock table items' }, t.token)
    const patient = q({ ...blocked, timeoutMs: 60_000 })
    await eventually(
      async () =>
        (
          await db.sql(
            `select 1 from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`,
          )
        ).length > 0,
    )
    // The same read, that allows itself 200 ms, answers when those are up, not in a minute.
    const hurried = q({ ...blocked, timeoutMs: 200 })
    const bound = new Promise<'still waiting'>((resolve) =>
      setTimeout(() => resolve('still waiting'), 5_000),
    )
    const answer = await Promise.race([hurried, bound])
    await post(base, `/v1/transactions/${tx}/rollback`, {}, t.token)
    expect(answer).toMatchObject({ status: 504, body: { error: { code: 'STATEMENT_TIMEOUT' } } })
    expect((await patient).status).toBe(200)
  })

  it('serves a stale entry within swrMs while one refresh runs, then the fresh value', async () => {
    const stale = read(16, { ttlMs: 1, swrMs: 60_000 })
    await q(stale)
    await db.sql(`update items set v = 'outside' where id = 16`)
    await new Promise((resolve) => setTimeout(resolve, 10))
    expect(await q(stale)).toMatchObject({ cache: 'stale', body: { rows: [['16', 'v16']] } })
    let last: any
    for (let i = 0; i < 200 && last?.body.rows[0][1] !== 'outside'; i++) last = await q(read(16))
    expect(last.body.rows).toEqual([['16', 'outside']])
  })

  it('holds each read to its own ttlMs and tags, whoever filled the entry and with what', async () => {
    // One caller keeps the answer for ten minutes, untagged.
    expect((await q(read(18, { ttlMs: 600_000 }))).cache).toBe('miss')
    await db.sql(`update items set v = 'outside' where id = 18`)
    // A caller that asks for answers at most 20 ms old gets one.
    const young = read(18, { ttlMs: 20 })
    await eventually(async () => (await q(young)).body.rows[0][1] === 'outside', 5_000)
    // One that tags its reads can purge them by that tag.
    await db.sql(`update items set v = 'again' where id = 18`)
    const tagged = read(18, { ttlMs: 600_000, tags: ['items:18'] })
    expect((await q(tagged)).body.rows).toEqual([['18', 'again']])
    await db.sql(`update items set v = 'purged' where id = 18`)
    await t.gateway.admin.purgeCache('main', 'items:18')
    expect(await q(tagged)).toMatchObject({ cache: 'miss', body: { rows: [['18', 'purged']] } })
  })

  it('purges by tag and by tenant through the admin API', async () => {
    const [r17, r18] = [read(17, { tags: ['items:17'] }), read(18, { tags: ['items:18'] })]
    await q(r17)
    await q(r18)
    const byTag = await post(base, '/admin/tenants/main/cache/purge?tag=items:17', {}, adminToken)
    expect(byTag.body).toEqual({ tenant: 'main', tag: 'items:17', purged: 1 })
    expect((await q(r17)).cache).toBe('miss')
    expect((await q(r18)).cache).toBe('hit')
    const all = await post(base, '/admin/tenants/main/cache/purge', {}, adminToken)
    expect(all.body).toMatchObject({ tenant: 'main', purged: 2 })
    expect((await q(r18)).cache).toBe('miss')
    const refused = await post(
      base,
      '/admin/tenants/main/cache/purge?tag=no%20spaces',
      {},
      adminToken,
    )
    expect(refused.status).toBe(400)
    const anonymous = await post(base, '/admin/tenants/main/cache/purge', {}, t.token)
    expect(anonymous.status).toBe(401)
  })

  it('reports its counters in /admin/tenants and /metrics', async () => {
    await q(read(19))
    await q(read(19))
    const report = await (
      await fetch(`${base}/admin/tenants/main`, {
        headers: { authorization: `Bearer ${adminToken}` },
      })
    ).json()
    expect(report.cache).toMatchObject({ live: true, entries: 1 })
    const metrics = await (await fetch(`${base}/metrics`)).text()
    expect(metrics).toMatch(/sluice_cache_requests_total\{tenant="main",result="hit"\} [1-9]/)
    expect(metrics).toMatch(/sluice_cache_bytes\{tenant="main"\} [1-9]/)
    expect(metrics).toMatch(/sluice_cache_live\{tenant="main"\} 1/)
    expect(metrics).toMatch(/sluice_cache_invalidations_total\{tenant="main",cause="tables"\}/)
    expect(metrics).toMatch(/sluice_cache_evictions_total\{tenant="main"\} 0/)
  })

  it.each([
    ['not an object', 'yes'],
    ['a negative ttlMs', { ttlMs: -1 }],
    ['a fractional swrMs', { swrMs: 1.5 }],
    ['too many tags', { tags: Array.from({ length: 17 }, (_, i) => `t${i}`) }],
    ['a tag with a space', { tags: ['a b'] }],
    ['an unknown key', { ttl: 5 }],
  ])(
    'refuses a cache option that is %s with BAD_REQUEST, the same on both paths',
    async (_, cache) => {
      const body = { sql: 'select 1', cache }
      const direct = await q(body)
      expect(direct.status).toBe(400)
      expect(direct.body.error.code).toBe('BAD_REQUEST')
      expect(direct.body.error.message).toMatch(/cache/)
      const viaApp = await t.post('/v1/query', body)
      expect(await viaApp.json()).toEqual(direct.body)
    },
  )

  it('answers a statement too long to parse without keeping it', async () => {
    const sql = `select v from items where id = 20 ${'and true '.repeat(2500)}`
    expect(sql.length).toBeGreaterThan(16 * 1024)
    const first = await q({ sql, cache: {} })
    expect(first).toMatchObject({ status: 200, cache: 'bypass', body: { rows: [['v20']] } })
  })
})

describe('the memory bound', () => {
  let small: Awaited<ReturnType<typeof startTestGateway>>
  let smallBase: string
  beforeAll(async () => {
    small = await startTestGateway(
      {
        allowPrivilegedRole: true,
        connection: { url: db.url },
        cache: { enabled: true, maxBytes: 8 * 1024, maxEntryBytes: 2 * 1024 },
      },
      { server: { cacheSecret } },
    )
    const server = serveGateway(small.gateway)
    await once(server, 'listening')
    smallBase = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    small.close = ((close) => async () => {
      server.close()
      await close()
    })(small.close)
  })
  afterAll(() => small?.close())

  it("keeps a bounded amount of a PostgreSQL-protocol transaction's text for its commit", async () => {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    await q(read(21))
    const client = new pg.Client(t.pgConfig())
    await client.connect()
    try {
      await client.query('begin')
      gc()
      const before = process.memoryUsage().heapUsed
      // Distinct statements of almost a body's size each (1 MiB), as a hostile client sends.
      for (let i = 0; i < 48; i++)
        await client.query(
          `select ${i} /* ${String(i).repeat((1000 * 1000) / String(i).length)} */`,
        )
      gc()
      const held = process.memoryUsage().heapUsed - before
      await client.query("update items set v = 'after many' where id = 21")
      await client.query('commit')
      expect(held).toBeLessThan(16 * 1024 * 1024)
      // What it let go of, its commit drops all the same.
      expect(await q(read(21))).toMatchObject({
        cache: 'miss',
        body: { rows: [['21', 'after many']] },
      })
    } finally {
      await client.end()
    }
  })

  it('stays within maxBytes, evicting the least recently used first', async () => {
    const cache = small.gateway.tenants.get('main')!.cache!
    for (let id = 1; id <= 40; id++) await post(smallBase, '/v1/query', read(id), small.token)
    const after = cache.stats()
    expect(after.bytes).toBeLessThanOrEqual(8 * 1024)
    expect(after.evictions).toBeGreaterThan(0)
    expect(after.entries).toBeLessThan(40)
    // The most recent is still there; the first went.
    expect((await post(smallBase, '/v1/query', read(40), small.token)).cache).toBe('hit')
    expect((await post(smallBase, '/v1/query', read(1), small.token)).cache).toBe('miss')
  })

  it('answers a result larger than maxEntryBytes without keeping it', async () => {
    const big = { sql: 'select id, v, repeat(v, 100) from items', cache: {} }
    expect((await post(smallBase, '/v1/query', big, small.token)).cache).toBe('miss')
    const again = await post(smallBase, '/v1/query', big, small.token)
    expect(again.cache).toBe('miss')
    expect(again.body.rows).toHaveLength(50)
  })

  it('starts a new, empty cache when a reload changes the cache settings, and none when it turns it off', async () => {
    await post(smallBase, '/v1/query', read(3), small.token)
    expect((await post(smallBase, '/v1/query', read(3), small.token)).cache).toBe('hit')
    const config = small.gateway.config
    const main = config.tenants.main!
    const withCache = (cache: typeof main.cache) => ({
      ...config,
      tenants: { ...config.tenants, main: { ...main, cache } },
    })
    const bigger = await small.gateway.admin.apply(
      withCache({ ...main.cache, maxBytes: 16 * 1024 }),
    )
    expect(bigger.replaced).toEqual(['main'])
    expect((await post(smallBase, '/v1/query', read(3), small.token)).cache).toBe('miss')
    const off = await small.gateway.admin.apply(withCache({ ...main.cache, enabled: false }))
    expect(off.replaced).toEqual(['main'])
    expect(small.gateway.tenants.get('main')!.cache).toBeUndefined()
    expect((await post(smallBase, '/v1/query', read(3), small.token)).cache).toBe('bypass')
  })
})
