import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PreparedStatements } from '../../../server/pool/prepared.js'
import { admin, startTestGateway, type TestGateway } from '../../helpers/gateway.js'

describe('prepared statements of a connection', () => {
  it('prepares a text once it ran threshold times, then binds it without parsing', () => {
    const cache = new PreparedStatements('p', { threshold: 2, max: 10 })
    expect(cache.plan('select 1')).toEqual({})
    expect(cache.plan('select 1')).toEqual({})
    expect(cache.plan('select 1')).toEqual({ name: 'p_1' })
    expect(cache.plan('select 1')).toEqual({ name: 'p_1', prepared: true })
  })

  it('never prepares with threshold null, and prepares at once with 0', () => {
    const never = new PreparedStatements('p', { threshold: null, max: 10 })
    for (let i = 0; i < 10; i++) expect(never.plan('select 1')).toEqual({})
    const atOnce = new PreparedStatements('p', { threshold: 0, max: 10 })
    expect(atOnce.plan('select 1')).toEqual({ name: 'p_1' })
  })

  it('closes the least recently used statement to keep at most max', () => {
    const cache = new PreparedStatements('p', { threshold: 0, max: 2 })
    cache.plan('a')
    cache.plan('b')
    cache.plan('a') // a is now the most recently used
    expect(cache.plan('c')).toEqual({ name: 'p_3', close: 'p_2' })
    expect(cache.size).toBe(2)
    expect(cache.plan('a')).toEqual({ name: 'p_1', prepared: true })
  })

  it('never counts nor prepares a text over 64 KiB, so long texts are not kept as keys', () => {
    const cache = new PreparedStatements('p', { threshold: 1, max: 10 })
    const long = `select 1 -- ${'x'.repeat(64 * 1024)}`
    for (let i = 0; i < 5; i++) expect(cache.plan(long)).toEqual({})
    const atOnce = new PreparedStatements('p', { threshold: 0, max: 10 })
    expect(atOnce.plan(long)).toEqual({})
    expect(atOnce.size).toBe(0)
    // Up to the limit, a text is prepared as any other.
    const limit = `select 1 -- ${'x'.repeat(64 * 1024 - 'select 1 -- '.length)}`
    expect(limit.length).toBe(64 * 1024)
    expect(atOnce.plan(limit)).toEqual({ name: 'p_1' })
  })

  it('parses again under a new name after forget() or clear()', () => {
    const cache = new PreparedStatements('p', { threshold: 0, max: 10 })
    cache.plan('a')
    cache.forget('a')
    expect(cache.plan('a')).toEqual({ name: 'p_2' })
    cache.clear()
    expect(cache.size).toBe(0)
    expect(cache.plan('a')).toEqual({ name: 'p_3' })
  })
})

// One connection, so every request meets the statements the earlier ones prepared.
describe('prepared statements through /v1/query', () => {
  let t: TestGateway
  beforeAll(async () => {
    t = await startTestGateway({ pool: { min: 1, max: 1, prepareThreshold: 1, preparedMax: 3 } })
    await admin('create table if not exists prepared_t (a int)')
    await admin('truncate prepared_t')
    await admin('insert into prepared_t values (1)')
  })
  afterAll(async () => {
    await t.close()
    await admin('drop table if exists prepared_t')
  })

  const query = (sql: string, params?: unknown[]) =>
    t.json('/v1/query', params ? { sql, params } : { sql })
  const ours = async () => {
    const { body } = await query(
      "select name, statement from pg_prepared_statements where name like 'sluice%' order by name",
    )
    return (body.rows as string[][]).map(([, statement]) => statement)
  }

  it('prepares a statement the connection ran before, and answers the same', async () => {
    const sql = 'select a, $1::int as b from prepared_t'
    const first = await query(sql, [7])
    expect(await ours()).not.toContain(sql)
    const second = await query(sql, [7])
    expect(await ours()).toContain(sql)
    const third = await query(sql, [8])
    expect(second.body).toEqual(first.body)
    expect(third.body.rows).toEqual([['1', '8']])
  })

  it('runs a statement over 64 KiB unnamed however often it comes', async () => {
    const sql = `select 'long' as n -- ${'x'.repeat(64 * 1024)}`
    for (let i = 0; i < 3; i++) expect((await query(sql)).body.rows).toEqual([['long']])
    expect((await ours()).some((statement) => statement?.includes("'long'"))).toBe(false)
  })

  it('keeps at most preparedMax statements on the connection', async () => {
    for (const n of [1, 2, 3, 4, 5]) {
      await query(`select ${n} as n`)
      await query(`select ${n} as n`)
    }
    expect((await ours()).length).toBeLessThanOrEqual(3)
  })

  it('runs a statement again unnamed when a table change made its plan stale', async () => {
    const sql = 'select * from prepared_t'
    await query(sql)
    await query(sql)
    expect(await ours()).toContain(sql)
    await admin('alter table prepared_t add column c text')
    const after = await query(sql)
    expect(after.status).toBe(200)
    expect(after.body.fields.map((f: { name: string }) => f.name)).toEqual(['a', 'c'])
    await admin('alter table prepared_t drop column c')
  })

  it("reports a failing statement's own error, prepared or not", async () => {
    for (let i = 0; i < 3; i++) {
      const divided = await query('select 1 / $1::int', [0])
      expect(divided.body.error.sqlstate).toBe('22012')
      const misspelt = await query('selec 1')
      expect(misspelt.body.error.sqlstate).toBe('42601')
    }
    expect((await query('select 1 / $1::int', [1])).body.rows).toEqual([['1']])
  })

  it('keeps its prepared statements across the reset after a statement that changed settings', async () => {
    const sql = 'select count(*) from prepared_t where a > $1'
    await query(sql, [0])
    await query(sql, [0])
    await query("set timezone = 'Asia/Tokyo'")
    expect(await ours()).toContain(sql)
    expect((await query('show timezone')).body.rows).toEqual([['UTC']])
  })

  it('prepares again after an SQL-level PREPARE made the reset drop everything', async () => {
    const sql = 'select count(*) from prepared_t'
    await query(sql)
    await query(sql)
    await query('prepare from_sql as select 1')
    expect(await ours()).toEqual([])
    expect((await query(sql)).body.rows).toEqual([['1']])
    expect((await query(sql)).body.rows).toEqual([['1']])
    expect(await ours()).toContain(sql)
  })
})
