import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { admin, startTestGateway, type TestGateway } from '../helpers/gateway.js'

describe('POST /v1/batch', () => {
  let t: TestGateway
  beforeAll(async () => {
    t = await startTestGateway({ pool: { min: 0, max: 2 } })
    await admin('create table if not exists batch_probe (id int primary key)')
    await admin('truncate batch_probe')
  })
  afterAll(() => t.close())

  it('runs statements in order in one transaction and returns each result', async () => {
    const { status, body } = await t.json('/v1/batch', {
      statements: [
        { sql: 'insert into batch_probe values ($1), ($2)', params: [1, 2] },
        { sql: 'select count(*)::int from batch_probe' },
        { sql: 'select txid_current() = txid_current()' },
      ],
    })
    expect(status).toBe(200)
    expect(body.results.map((r: any) => [r.command, r.rowCount])).toEqual([
      ['INSERT', 2],
      ['SELECT', 1],
      ['SELECT', 1],
    ])
    expect(body.results[1].rows).toEqual([['2']])
  })

  it('is all or nothing: the first error rolls back and names its statementIndex', async () => {
    const { status, body } = await t.json('/v1/batch', {
      statements: [
        { sql: 'insert into batch_probe values (10)' },
        { sql: 'insert into batch_probe values (1)' },
        { sql: 'insert into batch_probe values (11)' },
      ],
    })
    expect(status).toBe(400)
    expect(body.error).toMatchObject({
      code: 'DATABASE_ERROR',
      sqlstate: '23505',
      statementIndex: 1,
    })
    expect(body.error.constraint).toBe('batch_probe_pkey')
    const rows = await admin('select id from batch_probe order by id')
    expect(rows.map((r) => r.id)).toEqual([1, 2])
  })

  it('names no statement when the failure comes at COMMIT (a deferred constraint)', async () => {
    const table = `batch_deferred_${process.pid}`
    await admin(`create table ${table} (id int unique deferrable initially deferred)`)
    try {
      const { status, body } = await t.json('/v1/batch', {
        statements: [
          { sql: `insert into ${table} values (1)` },
          { sql: `insert into ${table} values (1)` },
        ],
      })
      expect(status).toBe(400)
      expect(body.error).toMatchObject({ code: 'DATABASE_ERROR', sqlstate: '23505' })
      expect(body.error).not.toHaveProperty('statementIndex')
      expect(await admin(`select * from ${table}`)).toEqual([])
    } finally {
      await admin(`drop table ${table}`)
    }
  })

  it('honours isolation, readOnly and deferrable', async () => {
    const { body } = await t.json('/v1/batch', {
      statements: [
        { sql: 'show transaction_isolation' },
        { sql: 'show transaction_read_only' },
        { sql: 'show transaction_deferrable' },
      ],
      isolation: 'serializable',
      readOnly: true,
      deferrable: true,
    })
    expect(body.results.map((r: any) => r.rows[0][0])).toEqual(['serializable', 'on', 'on'])
    const write = await t.json('/v1/batch', {
      statements: [{ sql: 'insert into batch_probe values (99)' }],
      readOnly: true,
    })
    expect(write.status).toBe(403)
    expect(write.body.error.statementIndex).toBe(0)
  })

  it('rolls back on a statement timeout, naming the statement', async () => {
    const { status, body } = await t.json('/v1/batch', {
      statements: [{ sql: 'insert into batch_probe values (50)' }, { sql: 'select pg_sleep(10)' }],
      timeoutMs: 200,
    })
    expect(status).toBe(504)
    expect(body.error).toMatchObject({ code: 'STATEMENT_TIMEOUT', statementIndex: 1 })
    expect(await admin('select * from batch_probe where id = 50')).toEqual([])
  })
})
