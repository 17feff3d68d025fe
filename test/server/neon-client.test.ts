import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import type { Server as ServerType } from 'node:http'
import { NeonDbError, Pool, neon, neonConfig } from '@neondatabase/serverless'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { caught } from '../helpers/caught.js'
import {
  admin,
  databaseUrl,
  serveGateway,
  startTestGateway,
  type TestGateway,
} from '../helpers/gateway.js'

// The real @neondatabase/serverless client against a listening gateway, with every answer
// compared to what pg gives for the same statement on the same database.

const DB_ERROR_FIELDS = [
  'message',
  'code',
  'severity',
  'detail',
  'hint',
  'position',
  'where',
  'schema',
  'table',
  'column',
  'dataType',
  'constraint',
] as const

function errorFields(error: unknown): Record<string, unknown> {
  const source = error as Record<string, unknown>
  return Object.fromEntries(DB_ERROR_FIELDS.map((key) => [key, source[key] ?? undefined]))
}

describe('POST /sql with the @neondatabase/serverless client', () => {
  let t: TestGateway
  let server: ServerType
  let host: string
  let direct: pg.Client
  let table: string
  let sql: ReturnType<typeof neon>

  const connectionString = (token: string) => `postgresql://sluice:${token}@${host}/main`

  beforeAll(async () => {
    t = await startTestGateway()
    server = serveGateway(t.gateway)
    await new Promise((resolve) => server.once('listening', resolve))
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`
    neonConfig.fetchEndpoint = `http://${host}/sql`
    sql = neon(connectionString(t.token))
    direct = new pg.Client({ connectionString: databaseUrl() })
    await direct.connect()
    table = `neon_client_${randomBytes(4).toString('hex')}`
    await admin(`create table ${table} (id int primary key, name text not null)`)
  })
  afterAll(async () => {
    await admin(`drop table if exists ${table}`)
    await direct?.end()
    await new Promise((resolve) => server?.close(resolve))
    await t?.close()
  })

  const everyType = `select 1::int2 as i2, 2147483647::int4 as i4, 9223372036854775807::int8 as i8,
    12345678901234567890.123456789::numeric as num, 1.5::float4 as f4,
    3.141592653589793::float8 as f8, 'NaN'::float8 as nan, true as yes, false as no,
    'héllo "world"'::text as txt, 'abc'::varchar(10) as vc,
    '{"a": [1, 2, {"b": null}], "big": 12345678901234567890}'::json as js,
    '{"k": "v", "n": 1.50}'::jsonb as jb, '\\x00ff10'::bytea as bin, '2026-11-24'::date as d,
    '2026-11-24 13:12:00.123456'::timestamp as ts,
    '2026-11-24 13:12:00.123456+02'::timestamptz as tstz,
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid as id, array[1, 2, null]::int4[] as ints,
    array['a', 'b c', '"q"', null]::text[] as texts, '{{1.5,2},{3,4}}'::float8[] as matrix,
    array['2026-01-01'::date] as dates, array['{"x": 1}'::jsonb] as jbs, null::int4 as nothing,
    '12:34:56'::time as tm, '1 day 02:00:00'::interval as iv`

  it('returns every common type as pg parses it, in object and array rows', async () => {
    const expected = await direct.query(everyType)
    const objects = await sql.query(everyType, [], { fullResults: true })
    expect(objects.rows).toEqual(expected.rows)
    expect(objects.fields).toEqual(expected.fields)
    expect([objects.command, objects.rowCount]).toEqual([expected.command, expected.rowCount])
    expect(objects.rowAsArray).toBe(false)

    const expectedArrays = await direct.query({ text: everyType, rowMode: 'array' })
    const arrays = await sql.query(everyType, [], { arrayMode: true, fullResults: true })
    expect(arrays.rows).toEqual(expectedArrays.rows)
    expect(arrays.rowAsArray).toBe(true)
  })

  it('sends tagged-template values as parameters, as pg sends them', async () => {
    const values = {
      n: 42,
      big: 9007199254740993n,
      s: "'; drop table users; --",
      yes: true,
      nothing: null,
      when: new Date('2026-11-24T13:12:00.123Z'),
      bytes: Buffer.from([0, 1, 254, 255]),
      list: [1, 2, 3],
      words: ['a', 'b "c"', null],
      doc: { a: [1, { b: 'c' }] },
    }
    const text = `select $1::int4 as n, $2::int8 as big, $3::text as s, $4::bool as yes,
      $5::text as nothing, $6::timestamptz as "when", $7::bytea as bytes, $8::int4[] as list,
      $9::text[] as words, $10::jsonb as doc`
    const expected = await direct.query(text, Object.values(values))
    const rows = await sql`select ${values.n}::int4 as n, ${values.big}::int8 as big,
      ${values.s}::text as s, ${values.yes}::bool as yes, ${values.nothing}::text as nothing,
      ${values.when}::timestamptz as "when", ${values.bytes}::bytea as bytes,
      ${values.list}::int4[] as list, ${values.words}::text[] as words,
      ${values.doc}::jsonb as doc`
    expect(rows).toEqual(expected.rows)
    expect((rows as Record<string, unknown>[])[0]!.s).toBe(values.s)
  })

  it('reports command and rowCount from the command tag, as pg does', async () => {
    for (const text of [
      `insert into ${table} values (1, 'one'), (2, 'two')`,
      `update ${table} set name = upper(name)`,
      `select * from ${table}`,
      `delete from ${table} where id = 2`,
      `create temporary table if not exists neon_tag (x int)`,
    ]) {
      // pg runs it first and rolls back, so both see the same table.
      await direct.query('begin')
      const expected = await direct.query(text)
      await direct.query('rollback')
      const result = await sql.query(text, [], { fullResults: true })
      expect([result.command, result.rowCount]).toEqual([expected.command, expected.rowCount])
    }
  })

  it('runs sql.transaction statements in one transaction with their results in order', async () => {
    const [first, second] = await sql.transaction([
      sql`insert into ${sql.unsafe(table)} values (10, 'ten') returning id`,
      sql`select name from ${sql.unsafe(table)} where id = 10`,
    ])
    expect(first).toEqual([{ id: 10 }])
    expect(second).toEqual([{ name: 'ten' }])
  })

  it('rolls the whole transaction back when one statement fails', async () => {
    const error = await caught(() =>
      sql.transaction([
        sql`insert into ${sql.unsafe(table)} values (20, 'twenty')`,
        sql`select 1 / 0`,
      ]),
    )
    expect(error).toBeInstanceOf(NeonDbError)
    expect((error as NeonDbError).code).toBe('22012')
    expect(await admin(`select * from ${table} where id = 20`)).toEqual([])
  })

  it.each([
    ['Serializable', 'serializable'],
    ['RepeatableRead', 'repeatable read'],
    ['ReadCommitted', 'read committed'],
    // PostgreSQL runs READ UNCOMMITTED as READ COMMITTED; Sluice asks for the latter.
    ['ReadUncommitted', 'read committed'],
  ] as const)('runs a transaction at isolation level %s', async (level, shown) => {
    const [isolation] = await sql.transaction([sql`show transaction_isolation`], {
      isolationLevel: level,
    })
    expect(isolation).toEqual([{ transaction_isolation: shown }])
  })

  it('runs a transaction read only and deferrable when asked', async () => {
    const [readOnly, deferrable] = await sql.transaction(
      [sql`show transaction_read_only`, sql`show transaction_deferrable`],
      { isolationLevel: 'Serializable', readOnly: true, deferrable: true },
    )
    expect(readOnly).toEqual([{ transaction_read_only: 'on' }])
    expect(deferrable).toEqual([{ transaction_deferrable: 'on' }])
    const error = await caught(() =>
      sql.transaction([sql`insert into ${sql.unsafe(table)} values (30, 'x')`], {
        readOnly: true,
      }),
    )
    expect((error as NeonDbError).code).toBe('25006')
    const [defaults] = await sql.transaction([sql`show transaction_read_only`])
    expect(defaults).toEqual([{ transaction_read_only: 'off' }])
  })

  it('gives errors the PostgreSQL fields pg gives', async () => {
    for (const text of [
      `insert into ${table} values (1, 'duplicate')`,
      `insert into ${table} values (99, null)`,
      `select nope from ${table}`,
      'select 1 +',
      `select 'x'::int4`,
    ]) {
      const expected = await caught(() => direct.query(text))
      const error = await caught(() => sql.query(text))
      expect(error).toBeInstanceOf(NeonDbError)
      expect(errorFields(error)).toEqual(errorFields(expected))
      expect((error as NeonDbError).code).toMatch(/^[0-9A-Z]{5}$/)
    }
  })

  it('keeps a readonly token read-only', async () => {
    const readonly = neon(connectionString(t.readonlyToken))
    expect(await readonly`select count(*)::int as n from ${readonly.unsafe(table)}`).toHaveLength(1)
    const error = await caught(() => readonly.query(`insert into ${table} values (40, 'no')`))
    expect((error as NeonDbError).code).toBe('25006')
    const inBatch = await caught(() =>
      readonly.transaction([readonly`insert into ${readonly.unsafe(table)} values (41, 'no')`]),
    )
    expect((inBatch as NeonDbError).code).toBe('25006')
    expect(await admin(`select * from ${table} where id in (40, 41)`)).toEqual([])
  })

  it('accepts the token as authToken (Authorization: Bearer) instead of the password', async () => {
    const bearer = neon(`postgresql://sluice@${host}/main`, { authToken: () => t.token })
    expect(await bearer`select 7 as n`).toEqual([{ n: 7 }])
  })

  it('reads a percent-encoded token from the password', async () => {
    const token = 'p@ss/w:rd?#%+ with spaces'
    const special = await startTestGateway({ tokens: [{ token, role: 'readwrite' }] })
    const app = serveGateway(special.gateway)
    try {
      await new Promise((resolve) => app.once('listening', resolve))
      const port = (app.address() as AddressInfo).port
      const url = `postgresql://sluice:${encodeURIComponent(token)}@127.0.0.1:${port}/main`
      neonConfig.fetchEndpoint = `http://127.0.0.1:${port}/sql`
      expect(await neon(url)`select 'ok' as answer`).toEqual([{ answer: 'ok' }])
    } finally {
      neonConfig.fetchEndpoint = `http://${host}/sql`
      await new Promise((resolve) => app.close(resolve))
      await special.close()
    }
  })

  it('refuses an unknown token with SQLSTATE 28P01', async () => {
    const error = await caught(() => neon(connectionString('not-a-token'))`select 1`)
    expect(error).toBeInstanceOf(NeonDbError)
    expect((error as NeonDbError).code).toBe('28P01')
    expect((error as Error).message).not.toContain('not-a-token')
  })

  it('serves Pool.query over fetch when poolQueryViaFetch is on', async () => {
    neonConfig.poolQueryViaFetch = true
    const pool = new Pool({ connectionString: connectionString(t.token) })
    try {
      const expected = await direct.query('select $1::int8 as n, $2::text[] as a', ['5', '{x,y}'])
      const result = await pool.query('select $1::int8 as n, $2::text[] as a', ['5', '{x,y}'])
      expect(result.rows).toEqual(expected.rows)
      expect(result.fields).toEqual(expected.fields)
    } finally {
      neonConfig.poolQueryViaFetch = false
      await pool.end()
    }
  })
})
