import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest'
import { z } from 'zod'
import {
  createClient,
  isClientError,
  isDatabaseError,
  isGatewayError,
  sql,
  type Client,
  type ClientOptions,
  type QueryResult,
  type SqlQuery,
} from '../../edge/index.js'
import pg from 'pg'
import { caught } from '../helpers/caught.js'
import {
  admin,
  databaseUrl,
  eventually,
  listenTestGateway,
  startTestGateway,
  type TestGateway,
} from '../helpers/gateway.js'

/** Buffers become plain Uint8Arrays so pg's and the client's bytes compare equal. */
function normalize(value: unknown): unknown {
  if (value instanceof Uint8Array) return Uint8Array.from(value)
  if (Array.isArray(value)) return value.map(normalize)
  if (value && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalize(v)]))
  }
  return value
}

// One contract, two transports: the in-process app through an injected fetch, and a real
// gateway listening on a TCP port through the runtime's own fetch.
const transports: Record<string, () => Promise<{ t: TestGateway; options: ClientOptions }>> = {
  'in-process app': async () => {
    const t = await startTestGateway()
    const fetch = async (url: string, init: RequestInit) => t.gateway.app.request(url, init)
    return { t, options: { url: 'http://gateway.test', token: t.token, fetch } }
  },
  'listening gateway': async () => {
    const t = await listenTestGateway()
    return { t, options: { url: t.url, token: t.token } }
  },
}

describe.each(Object.keys(transports))('edge client over the %s', (transport) => {
  let t: TestGateway
  let options: ClientOptions
  let db: Client
  const table = `edge_client_${transport.replace(/\W/g, '_')}_${process.pid}`

  beforeAll(async () => {
    ;({ t, options } = await transports[transport]!())
    db = createClient(options)
    await admin(`create table ${table} (id int primary key, note text not null)`)
  })
  afterAll(async () => {
    await admin(`drop table if exists ${table}`)
    await t.close()
  })

  describe('query', () => {
    it('returns the values pg returns for the same statement', async () => {
      const text = `select 1::int2 as i2, 2147483647 as i4, 9223372036854775807::int8 as i8,
        1.5::float8 as f, 123456789012345678901234.5678::numeric as n, true as b, 'x'::text as s,
        'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid as u, '{"a":[1,{"b":null}]}'::jsonb as j,
        '\\xdeadbeef'::bytea as bytes, '2024-02-29'::date as d,
        '2026-11-24 13:12:00.123456'::timestamp as ts, '2026-11-24 13:12:00.123+05:30'::timestamptz as tz,
        '1 year 2 mons 3 days 04:05:06.5'::interval as iv, null::int4 as nothing,
        array[[1,2],[null,4]]::int4[] as nested, array['a "q"', 'b\\c', null, '']::text[] as texts,
        array['2026-01-01 00:00:00+00']::timestamptz[] as tzs, array['{"k":1}']::jsonb[] as docs`
      const [ours, theirs] = await Promise.all([db.query(text), admin(text)])
      expect(normalize(ours.rows)).toEqual(normalize(theirs))
      expect(ours.rows[0]).toMatchObject({ i8: '9223372036854775807', b: true })
      expectTypeOf(ours.rows).toEqualTypeOf<Record<string, unknown>[]>()
      expect(ours.rows[0]!.tz).toBeInstanceOf(Date)
      expect(ours.command).toBe('SELECT')
      expect(ours.rowCount).toBe(1)
      expect(ours.fields.map((f) => f.dataTypeID).slice(0, 3)).toEqual([21, 23, 20])
    })

    it('sends Dates, bytes, bigints, arrays and objects as pg sends them', async () => {
      const params = [
        new Date('2026-11-24T13:12:00.123Z'),
        new Uint8Array([0, 1, 254, 255]),
        9007199254740993n,
        [
          [1, null],
          [3, 4],
        ],
        { a: ['b', 1, null], c: { d: true } },
        ['x "y"', 'z\\w', null],
        null,
      ]
      const text = `select $1::timestamptz as t, $2::bytea as b, $3::int8 as big, $4::int4[] as a,
        $5::jsonb as j, $6::text[] as s, $7::text as n`
      const [ours, theirs] = await Promise.all([db.query(text, params), admin(text, params)])
      expect(normalize(ours.rows)).toEqual(normalize(theirs))
    })

    it('sends and returns every byte value of a bytea (0x0a-0x0f included) as pg does', async () => {
      const bytes = Uint8Array.from({ length: 256 }, (_, i) => i)
      const text = `select $1::bytea as sent, '\\x0a0b0c0d0e0f'::bytea as literal`
      const [ours, theirs] = await Promise.all([db.query(text, [bytes]), admin(text, [bytes])])
      expect(normalize(ours.rows)).toEqual(normalize(theirs))
      expect(Array.from(ours.rows[0]!.sent as Uint8Array)).toEqual(Array.from(bytes))
    })

    it('reads a timestamptz PostgreSQL prints with a non-zero offset as pg does', async () => {
      const text = `select '2026-11-24 13:12:00.123+00'::timestamptz as t,
        '1850-01-01 12:00:00+00'::timestamptz as lmt, current_setting('timezone') as zone`
      const ours = await db.transaction(async (tx) => {
        await tx.query("set local timezone = 'Asia/Kathmandu'")
        return (await tx.query(text)).rows
      })
      const client = new pg.Client({
        connectionString: databaseUrl(),
        options: '-c TimeZone=Asia/Kathmandu',
      })
      await client.connect()
      const theirs = (await client.query(text).finally(() => client.end())).rows
      expect(ours).toEqual(theirs)
      expect(ours[0]).toMatchObject({
        t: new Date('2026-11-24T13:12:00.123Z'),
        zone: 'Asia/Kathmandu',
      })
    })

    it('returns rows as arrays in array mode', async () => {
      const { rows, fields } = await db.query('select 1 as a, 2 as a, $1::text as b', ['c'], {
        rowMode: 'array',
      })
      expect(rows).toEqual([[1, 2, 'c']])
      expectTypeOf(rows).toEqualTypeOf<unknown[][]>()
      const typed = await db.query<[number, string]>(sql`select 1, 'x'`, { rowMode: 'array' })
      expect(typed.rows).toEqual([[1, 'x']])
      expectTypeOf(typed.rows).toEqualTypeOf<[number, string][]>()
      expect(fields.map((f) => f.name)).toEqual(['a', 'a', 'b'])
    })

    it('returns int8 as bigint and dates as strings when asked, per client or per call', async () => {
      const text = `select 9007199254740993::int8 as big, '2026-11-24 13:12:00.123456+00'::timestamptz as t`
      const typed = createClient({ ...options, bigint: true, dateStrings: true })
      expect((await typed.query(text)).rows).toEqual([
        { big: 9007199254740993n, t: '2026-11-24 13:12:00.123456+00' },
      ])
      const { rows } = await typed.query(text, [], { bigint: false, dateStrings: false })
      expect(rows).toEqual([{ big: '9007199254740993', t: new Date('2026-11-24T13:12:00.123Z') }])
    })

    it('validates rows with a Standard Schema and returns its output', async () => {
      const User = z.object({ id: z.number(), name: z.string().transform((s) => s.toUpperCase()) })
      const { rows } = await db.query(`select 1 as id, 'ada' as name`, [], { schema: User })
      expect(rows).toEqual([{ id: 1, name: 'ADA' }])
      expectTypeOf(rows).toEqualTypeOf<{ id: number; name: string }[]>()

      const error = await caught(
        db.query(`select 'one' as id, 'ada' as name`, [], { schema: User }),
      )
      expect(isClientError(error)).toBe(true)
      expect(error.code).toBe('VALIDATION_ERROR')
      expect(error.message).toMatch(/^row 0 does not match the schema: id: /)
      expect(error.issues[0].path).toEqual(['id'])
    })
  })

  describe('the sql tag', () => {
    it('sends every value as a parameter, never as SQL text', async () => {
      const hostile = `'); drop table ${table}; --`
      const rows = await db.sql<{ v: string }>`select ${hostile}::text as v`
      expect(rows).toEqual([{ v: hostile }])
      expect(await admin(`select to_regclass($1) as t`, [table])).toEqual([{ t: table }])
    })

    it('composes nested fragments with their parameters renumbered', async () => {
      const min = sql`id >= ${2}`
      const q = sql`select id from generate_series(1, ${4}) as id where ${min} and id <> ${3}`
      expect(q.text).toBe('select id from generate_series(1, $1) as id where id >= $2 and id <> $3')
      expect((await db.query(q)).rows).toEqual([{ id: 2 }, { id: 4 }])
    })
  })

  describe('errors', () => {
    it('rebuilds a database error with its code, SQLSTATE and position', async () => {
      const error = await caught(db.query('select * from no_such_table'))
      expect(isDatabaseError(error)).toBe(true)
      expect(isGatewayError(error)).toBe(true)
      expect(error).toMatchObject({
        name: 'DatabaseError',
        code: 'DATABASE_ERROR',
        sqlstate: '42P01',
        position: '15',
        retryable: false,
        status: 400,
      })
      expect(error.requestId).toBeTruthy()
    })

    it('answers a gateway error that is not the database as a GatewayError', async () => {
      const stranger = createClient({ ...options, token: 'not-a-token-of-this-gateway' })
      const error = await caught(stranger.query('select 1'))
      expect(isGatewayError(error)).toBe(true)
      expect(isDatabaseError(error)).toBe(false)
      expect(error).toMatchObject({ name: 'GatewayError', code: 'UNAUTHORIZED', status: 401 })
    })

    it('times out on the client with CLIENT_TIMEOUT, and the gateway stops the statement', async () => {
      const error = await caught(db.query('select pg_sleep(30)', [], { timeoutMs: 300 }))
      expect(isClientError(error)).toBe(true)
      expect(error.code).toBe('CLIENT_TIMEOUT')
      await eventually(
        async () =>
          (
            await admin(
              `select 1 from pg_stat_activity where application_name = $1 and query like '%pg_sleep(30)%' and state = 'active'`,
              [t.applicationName],
            )
          ).length === 0,
      )
    })

    it("rejects with the signal's reason when the caller aborts", async () => {
      const controller = new AbortController()
      const reason = new Error('caller gave up')
      const sleeping = async () =>
        (
          await admin(
            `select 1 from pg_stat_activity where application_name = $1 and query like '%pg_sleep(29)%' and state = 'active'`,
            [t.applicationName],
          )
        ).length
      const running = caught(db.query('select pg_sleep(29)', [], { signal: controller.signal }))
      await eventually(async () => (await sleeping()) === 1)
      controller.abort(reason)
      expect(await running).toBe(reason)
      // The gateway stops the statement once its client is gone.
      await eventually(async () => (await sleeping()) === 0)
    })
  })

  describe('batch', () => {
    it('runs statements in one transaction and types each result', async () => {
      const count: SqlQuery<{ n: number }> = {
        text: `select count(*)::int4 as n from ${table}`,
        values: [],
      }
      const [inserted, selected, constant] = await db.batch(
        [
          `insert into ${table} values (1, 'one')`,
          count,
          sql<{ one: number }>`select ${1}::int4 as one`,
        ],
        { isolation: 'serializable' },
      )
      expect(inserted.command).toBe('INSERT')
      expect(inserted.rowCount).toBe(1)
      expect(selected.rows).toEqual([{ n: 1 }])
      expect(constant.rows).toEqual([{ one: 1 }])
      expectTypeOf(selected).toEqualTypeOf<QueryResult<{ n: number }>>()
      expectTypeOf(constant).toEqualTypeOf<QueryResult<{ one: number }>>()
      expectTypeOf(inserted).toEqualTypeOf<QueryResult<Record<string, unknown>>>()
      await admin(`delete from ${table}`)
    })

    it('is all or nothing, and names the failing statement', async () => {
      const error = await caught(
        db.batch([
          { text: `insert into ${table} values ($1, $2)`, values: [1, 'one'] },
          { text: `insert into ${table} values ($1, $2)`, values: [2, null] },
        ]),
      )
      expect(isDatabaseError(error)).toBe(true)
      expect(error).toMatchObject({ sqlstate: '23502', statementIndex: 1, column: 'note' })
      expect(await admin(`select * from ${table}`)).toEqual([])
    })

    it('returns every result as arrays in array mode, duplicate column names included', async () => {
      const [first, second] = await db.batch(['select 1 as a, 2 as a', sql`select ${'x'} as b`], {
        rowMode: 'array',
      })
      expect(first.rows).toEqual([[1, 2]])
      expect(second.rows).toEqual([['x']])
    })
  })

  describe('begin', () => {
    it('hands over an open transaction that commits when told to', async () => {
      const tx = await db.begin({ isolation: 'serializable' })
      expect(tx.id).toEqual(expect.any(String))
      await tx.query(`insert into ${table} values ($1, $2)`, [20, 'twenty'])
      const [level] = await tx.sql`select current_setting('transaction_isolation') as level`
      expect(level).toEqual({ level: 'serializable' })
      // Not visible outside before the commit.
      expect(await admin(`select * from ${table}`)).toEqual([])
      expect(await tx.commit()).toEqual({ committed: true })
      expect(await admin(`select id from ${table}`)).toEqual([{ id: 20 }])
      await admin(`delete from ${table}`)
    })

    it('rolls back when told to, and the handle is dead afterwards', async () => {
      const tx = await db.begin()
      await tx.query(`insert into ${table} values ($1, $2)`, [21, 'twenty-one'])
      expect(await tx.rollback()).toEqual({ committed: false })
      expect(await admin(`select * from ${table}`)).toEqual([])
      const error = await caught(tx.query('select 1'))
      expect(isGatewayError(error) && error.code).toBe('TX_NOT_FOUND')
    })

    it('keeps savepoints: a failed statement rolls back to one and the rest commits', async () => {
      const tx = await db.begin()
      await tx.query(`insert into ${table} values ($1, $2)`, [22, 'kept'])
      await tx.query('savepoint before_duplicate')
      const error = await caught(tx.query(`insert into ${table} values ($1, $2)`, [22, 'dup']))
      expect(error.sqlstate).toBe('23505')
      await tx.query('rollback to savepoint before_duplicate')
      await tx.query(`insert into ${table} values ($1, $2)`, [23, 'after'])
      await tx.commit()
      expect(await admin(`select id, note from ${table} order by id`)).toEqual([
        { id: 22, note: 'kept' },
        { id: 23, note: 'after' },
      ])
      await admin(`delete from ${table}`)
    })
  })

  describe('transaction', () => {
    it('commits when the callback resolves and returns its value', async () => {
      const value = await db.transaction(async (tx) => {
        await tx.query(`insert into ${table} values ($1, $2)`, [10, 'ten'])
        const [row] = await tx.sql<{ n: number }>`select ${41}::int4 + 1 as n`
        const { rows } = await tx.query<{ n: number }>(`select count(*)::int4 as n from ${table}`)
        return [row!.n, rows[0]!.n]
      })
      expect(value).toEqual([42, 1])
      expect(await admin(`select id, note from ${table}`)).toEqual([{ id: 10, note: 'ten' }])
      await admin(`delete from ${table}`)
    })

    it('rolls back when the callback throws and passes the same error on', async () => {
      const thrown = new Error('changed my mind')
      const error = await caught(
        db.transaction(async (tx) => {
          await tx.query(`insert into ${table} values ($1, $2)`, [11, 'eleven'])
          throw thrown
        }),
      )
      expect(error).toBe(thrown)
      expect(await admin(`select * from ${table}`)).toEqual([])
      await eventually(
        async () =>
          (
            await admin(
              `select 1 from pg_stat_activity where application_name = $1 and state like 'idle in transaction%'`,
              [t.applicationName],
            )
          ).length === 0,
      )
    })

    it('rolls back after a failed statement and rethrows its DatabaseError', async () => {
      const error = await caught(
        db.transaction(
          async (tx) => {
            await tx.query(`insert into ${table} values ($1, $2)`, [12, 'twelve'])
            await tx.query(`insert into ${table} values ($1, $2)`, [12, 'again'])
          },
          { isolation: 'repeatable read' },
        ),
      )
      expect(isDatabaseError(error)).toBe(true)
      expect(error.sqlstate).toBe('23505')
      expect(await admin(`select * from ${table}`)).toEqual([])
    })

    it('runs statements in call order even when they are not awaited one by one', async () => {
      const notes = await db.transaction(async (tx) => {
        const writes = [1, 2, 3, 4, 5].map((i) =>
          tx.query(`insert into ${table} values ($1, $2)`, [i, `n${i}`]),
        )
        await Promise.all(writes)
        return tx.query<{ id: number }>(`select id from ${table} order by id`)
      })
      expect(notes.rows.map((n) => n.id)).toEqual([1, 2, 3, 4, 5])
      await admin(`delete from ${table}`)
    })
  })
})
