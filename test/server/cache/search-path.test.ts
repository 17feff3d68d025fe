/**
 * The cache's own SQL (the catalog query, the channel's notifications) runs as the tenant's
 * role, whose `search_path` the role may set for itself: a schema of its own before
 * pg_catalog then shadows a system table or function that the cache's SQL names without
 * its schema. The cache must read the real catalog whatever the role put first.
 */
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { installTriggers } from '../../../server/cache/triggers.js'
import { createDatabase, post, type TestDatabase } from '../../helpers/cache.js'
import {
  admin,
  eventually,
  serveGateway,
  startTestGateway,
  type TestGateway,
} from '../../helpers/gateway.js'

const role = `sluice_shadow_${randomBytes(4).toString('hex')}`
const password = `shadow-${randomBytes(8).toString('hex')}`
let db: TestDatabase
let t: TestGateway
let server: Server
let base: string
let roleUrl: string

const q = (body: unknown) => post(base, '/v1/query', body, t.token)

beforeAll(async () => {
  db = await createDatabase('cache_shadow')
  await admin(`create role ${role} login password '${password}'`)
  await db.sql(`
    grant connect on database "${db.name}" to ${role};
    create table items (id int primary key, v text);
    create table audit (id serial primary key, item int);
    insert into items select g, 'v' || g from generate_series(1, 5) g;
    grant select, update on items to ${role};
    grant select, insert on audit to ${role};
    grant usage on sequence audit_id_seq to ${role};
    -- A write to items also writes audit, which the catalog must see.
    create function log_write() returns trigger language plpgsql as $$
      begin insert into public.audit (item) values (1); return null; end $$;
    create trigger log_write after update on items for each statement execute function log_write();
    -- The role's own schema, first in its search_path: a pg_trigger that shows no trigger,
    -- and a pg_notify that sends nothing.
    create schema shadow authorization ${role};
    create view shadow.pg_trigger as select * from pg_catalog.pg_trigger where false;
    create function shadow.pg_notify(text, text) returns void language sql as 'select null';
    alter view shadow.pg_trigger owner to ${role};
    alter function shadow.pg_notify(text, text) owner to ${role};
    alter role ${role} in database "${db.name}" set search_path = shadow, pg_catalog, public`)
  const url = new URL(db.url)
  url.username = role
  url.password = password
  roleUrl = url.toString()
  t = await startTestGateway({ connection: { url: roleUrl }, cache: { enabled: true } })
  server = serveGateway(t.gateway)
  await once(server, 'listening')
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterAll(async () => {
  server?.closeAllConnections()
  await new Promise((resolve) => server?.close(resolve))
  await t?.close()
  await db?.drop()
  await admin(`drop role if exists ${role}`)
})

describe('the cache, for a role whose search_path shadows pg_catalog', () => {
  it('runs its statements under that search_path (the shadows are in place)', async () => {
    const seen = await q({ sql: "select count(*) from pg_trigger where tgname = 'log_write'" })
    expect(seen.body.rows).toEqual([['0']])
  })

  it('still hears its own notifications, so it answers from memory', async () => {
    await eventually(() => t.gateway.tenants.get('main')!.cache!.live, 5_000)
    const read = { sql: 'select v from items where id = $1', params: [1], cache: {} }
    await t.gateway.admin.purgeCache('main')
    expect((await q(read)).cache).toBe('miss')
    expect((await q(read)).cache).toBe('hit')
  })

  it("sees a written table's triggers in the real catalog, and drops what they wrote", async () => {
    const audit = { sql: 'select count(*) from audit', cache: {} }
    const before = (await q(audit)).body.rows[0][0]
    expect((await q(audit)).cache).toBe('hit')
    expect((await q({ sql: "update items set v = 'new' where id = 2" })).status).toBe(200)
    const after = await q(audit)
    expect(after.cache).toBe('miss')
    expect(after.body.rows).toEqual([[String(Number(before) + 1)]])
  })

  it("hears the triggers' notifications of a write made outside Sluice by that role", async () => {
    const installer = new pg.Client({ connectionString: db.url })
    await installer.connect()
    try {
      await installTriggers(installer, ['public'])
    } finally {
      await installer.end()
    }
    const read = { sql: 'select v from items where id = $1', params: [3], cache: {} }
    await q(read)
    expect((await q(read)).cache).toBe('hit')
    const outside = new pg.Client({ connectionString: roleUrl })
    await outside.connect()
    try {
      await outside.query("update items set v = 'outside' where id = 3")
    } finally {
      await outside.end()
    }
    await eventually(async () => (await q(read)).cache === 'miss', 3_000)
    expect((await q(read)).body.rows).toEqual([['outside']])
  })

  it('takes the installed trigger for its own: a write through Sluice drops only the tables written', async () => {
    const items = { sql: 'select v from items where id = $1', params: [4], cache: {} }
    // What the event trigger says after DDL: the catalog asks again, and sees the triggers.
    await db.sql(`select pg_notify('sluice_cache', 'd')`)
    await eventually(async () => (await q(items)).cache === 'miss')
    await q(items)
    expect((await q(items)).cache).toBe('hit')
    // audit has no trigger but Sluice's: the write names it alone.
    expect((await q({ sql: 'insert into audit (item) values (4)' })).status).toBe(200)
    expect((await q(items)).cache).toBe('hit')
  })
})
