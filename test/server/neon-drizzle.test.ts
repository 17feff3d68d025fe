import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import type { Server as ServerType } from 'node:http'
import { neon, neonConfig } from '@neondatabase/serverless'
import { asc, eq, sql } from 'drizzle-orm'
import { drizzle as drizzleNeon } from 'drizzle-orm/neon-http'
import { drizzle as drizzlePg, type NodePgDatabase } from 'drizzle-orm/node-postgres'
import {
  bigint,
  boolean,
  date,
  doublePrecision,
  integer,
  jsonb,
  numeric,
  pgTable,
  smallint,
  text,
  timestamp,
  uuid,
} from 'drizzle-orm/pg-core'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  admin,
  databaseUrl,
  serveGateway,
  startTestGateway,
  type TestGateway,
} from '../helpers/gateway.js'

// Drizzle's neon-http driver against a listening gateway, compared with Drizzle's
// node-postgres driver running the same code on the same database.

const tableName = `neon_drizzle_${randomBytes(4).toString('hex')}`

const things = pgTable(tableName, {
  id: integer('id').primaryKey(),
  small: smallint('small'),
  big: bigint('big', { mode: 'bigint' }),
  price: numeric('price', { precision: 20, scale: 4 }),
  ratio: doublePrecision('ratio'),
  active: boolean('active').notNull(),
  name: text('name').notNull(),
  tags: text('tags').array(),
  meta: jsonb('meta').$type<{ color: string; sizes: number[] }>(),
  born: date('born'),
  seenAt: timestamp('seen_at', { withTimezone: true, mode: 'date' }),
  localAt: timestamp('local_at', { mode: 'string' }),
  ref: uuid('ref'),
})

describe('POST /sql with Drizzle neon-http', () => {
  let t: TestGateway
  let server: ServerType
  let client: pg.Client
  let viaSluice: ReturnType<typeof drizzleNeon>
  let viaPg: NodePgDatabase

  beforeAll(async () => {
    t = await startTestGateway()
    server = serveGateway(t.gateway)
    await new Promise((resolve) => server.once('listening', resolve))
    const host = `127.0.0.1:${(server.address() as AddressInfo).port}`
    neonConfig.fetchEndpoint = `http://${host}/sql`
    viaSluice = drizzleNeon({ client: neon(`postgresql://sluice:${t.token}@${host}/main`) })
    client = new pg.Client({ connectionString: databaseUrl() })
    await client.connect()
    viaPg = drizzlePg({ client })
    await admin(`create table ${tableName} (
      id int primary key, small int2, big int8, price numeric(20, 4), ratio float8,
      active bool not null, name text not null, tags text[], meta jsonb, born date,
      seen_at timestamptz, local_at timestamp, ref uuid)`)
  })
  afterAll(async () => {
    await admin(`drop table if exists ${tableName}`)
    await client?.end()
    await new Promise((resolve) => server?.close(resolve))
    await t?.close()
  })

  const row = (id: number) => ({
    id,
    small: 7,
    big: 9007199254740993n + BigInt(id),
    price: '12345.6789',
    ratio: 0.1 + id,
    active: id % 2 === 0,
    name: `thing "${id}"`,
    tags: ['a', 'b c', 'd,e'],
    meta: { color: 'red', sizes: [1, 2, id] },
    born: '2026-11-24',
    seenAt: new Date('2026-11-24T13:12:00.123Z'),
    localAt: '2026-11-24 13:12:00.123456',
    ref: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  })

  it('inserts with returning and selects the same rows node-postgres selects', async () => {
    const inserted = await viaSluice
      .insert(things)
      .values([row(1), row(2)])
      .returning()
    expect(inserted).toEqual([row(1), row(2)])
    const mine = await viaSluice.select().from(things).orderBy(asc(things.id))
    const theirs = await viaPg.select().from(things).orderBy(asc(things.id))
    expect(mine).toEqual(theirs)
    expect(mine).toEqual([row(1), row(2)])
  })

  it('updates, filters, aggregates and deletes as node-postgres does', async () => {
    await viaSluice.insert(things).values(row(3))
    const updated = await viaSluice
      .update(things)
      .set({ name: 'renamed', meta: sql`${things.meta} || '{"color": "blue"}'` })
      .where(eq(things.id, 3))
      .returning({ id: things.id, name: things.name, meta: things.meta })
    expect(updated).toEqual([{ id: 3, name: 'renamed', meta: { color: 'blue', sizes: [1, 2, 3] } }])
    const query = (db: typeof viaSluice | typeof viaPg) =>
      db
        .select({
          active: things.active,
          n: sql<number>`count(*)::int`,
          sum: sql<string>`sum(big)`,
        })
        .from(things)
        .groupBy(things.active)
        .orderBy(things.active)
    expect(await query(viaSluice)).toEqual(await query(viaPg))
    const deleted = await viaSluice
      .delete(things)
      .where(eq(things.id, 3))
      .returning({ id: things.id })
    expect(deleted).toEqual([{ id: 3 }])
    expect(await viaPg.select().from(things).where(eq(things.id, 3))).toEqual([])
  })

  it('runs db.batch in one transaction, all or nothing', async () => {
    const [inserted, count] = await viaSluice.batch([
      viaSluice.insert(things).values(row(10)).returning({ id: things.id }),
      viaSluice.select({ n: sql<number>`count(*)::int` }).from(things),
    ])
    expect(inserted).toEqual([{ id: 10 }])
    expect(count).toEqual(await viaPg.select({ n: sql<number>`count(*)::int` }).from(things))

    await expect(
      viaSluice.batch([
        viaSluice.insert(things).values(row(11)),
        viaSluice.insert(things).values(row(10)),
      ]),
    ).rejects.toMatchObject({ code: '23505', constraint: `${tableName}_pkey` })
    expect(await viaPg.select().from(things).where(eq(things.id, 11))).toEqual([])
  })

  it('raises the database error with its PostgreSQL fields', async () => {
    const error = await viaSluice
      .insert(things)
      .values({ ...row(1) })
      .then(
        () => undefined,
        (e: unknown) => e,
      )
    const expected = await viaPg
      .insert(things)
      .values({ ...row(1) })
      .then(
        () => undefined,
        (e: unknown) => e,
      )
    const fields = (e: any) => ({
      code: e?.cause?.code,
      detail: e?.cause?.detail,
      table: e?.cause?.table,
      constraint: e?.cause?.constraint,
      message: e?.cause?.message,
    })
    expect(fields(error)).toEqual(fields(expected))
    expect(fields(error).code).toBe('23505')
  })
})
