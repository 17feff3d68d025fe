/**
 * Readonly tokens, over a listening gateway: whatever a readonly token sends, and whatever
 * `readOnly: false` it asks for, its statements run in READ ONLY transactions, so PostgreSQL
 * itself refuses its writes. Each test writes a value of its own and counts only that value,
 * so the tests pass alone, in any order and beside any other file.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { admin, type ListeningGateway, listenTestGateway } from '../helpers/gateway.js'

describe('readonly tokens', () => {
  let t: ListeningGateway
  const table = `readonly_probe_${process.pid}`
  beforeAll(async () => {
    t = await listenTestGateway({ pool: { min: 0, max: 2 }, transactions: { maxOpenShare: 1 } })
    await admin(`create table ${table} (x int)`)
  })
  afterAll(async () => {
    await admin(`drop table if exists ${table}`)
    await t.close()
  })

  /** POSTs over the socket with the readonly token (or `token`). */
  const send = async (path: string, body: unknown, token = t.readonlyToken) => {
    const res = await fetch(`${t.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    })
    return { status: res.status, body: (await res.json()) as any }
  }
  const written = async (x: number): Promise<number> =>
    (await admin(`select count(*)::int as n from ${table} where x = $1`, [x]))[0].n

  it('may read', async () => {
    const { status, body } = await send('/v1/query', { sql: 'select 1 as one' })
    expect(status).toBe(200)
    expect(body.rows).toEqual([['1']])
  })

  it('gets FORBIDDEN for a write on /v1/query, refused by PostgreSQL itself (sqlstate 25006)', async () => {
    const { status, body } = await send('/v1/query', { sql: `insert into ${table} values (1)` })
    expect(status).toBe(403)
    expect(body.error).toMatchObject({ code: 'FORBIDDEN', sqlstate: '25006' })
    expect(await written(1)).toBe(0)
  })

  it('gets a READ ONLY batch even when it sends readOnly: false', async () => {
    const { status, body } = await send('/v1/batch', {
      statements: [
        { sql: 'show transaction_read_only' },
        { sql: `insert into ${table} values (2)` },
      ],
      readOnly: false,
    })
    expect(status).toBe(403)
    expect(body.error).toMatchObject({ code: 'FORBIDDEN', sqlstate: '25006', statementIndex: 1 })
    expect(await written(2)).toBe(0)
  })

  it('cannot lift read-only mode inside a batch', async () => {
    const { status, body } = await send('/v1/batch', {
      statements: [
        { sql: 'set transaction read write' },
        { sql: `insert into ${table} values (3)` },
      ],
    })
    expect(status).toBeGreaterThanOrEqual(400)
    expect(body.error.statementIndex).toBe(0)
    expect(await written(3)).toBe(0)
  })

  it('cannot escape with COMMIT in a batch', async () => {
    const { status, body } = await send('/v1/batch', {
      statements: [{ sql: 'commit' }, { sql: `insert into ${table} values (4)` }],
    })
    expect(status).toBe(400)
    expect(body.error.code).toBe('BAD_REQUEST')
    expect(await written(4)).toBe(0)
  })

  it('cannot hide a COMMIT behind a comment that PostgreSQL ends at a carriage return', async () => {
    // PostgreSQL ends a -- comment at \r too: it runs this COMMIT; the /* */ hides the rest.
    const commit = '--x\rCOMMIT /*\n*/'
    const batch = await send('/v1/batch', {
      statements: [{ sql: commit }, { sql: `insert into ${table} values (7)` }],
    })
    expect(batch.status).toBe(400)
    expect(batch.body.error.code).toBe('BAD_REQUEST')
    const begun = await send('/v1/transactions', {})
    const ended = await send(`/v1/transactions/${begun.body.id}/query`, { sql: commit })
    expect(ended.body.error.code).toBe('BAD_REQUEST')
    await send(`/v1/transactions/${begun.body.id}/query`, {
      sql: `insert into ${table} values (7)`,
    })
    await send(`/v1/transactions/${begun.body.id}/commit`, {})
    expect(await written(7)).toBe(0)
  })

  for (const [asked, options] of [
    ['readOnly: false', { readOnly: false }],
    ['no options', {}],
  ] as const) {
    it(`gets a READ ONLY interactive transaction with ${asked}, which it cannot lift`, async () => {
      const begun = await send('/v1/transactions', options)
      expect(begun.status).toBe(201)
      const query = (sql: string) => send(`/v1/transactions/${begun.body.id}/query`, { sql })
      expect((await query('show transaction_read_only')).body.rows).toEqual([['on']])
      const lift = await query('set transaction read write')
      expect(lift.status).toBeGreaterThanOrEqual(400)
      expect(lift.body.error.sqlstate).toBe('25001')
      expect((await send(`/v1/transactions/${begun.body.id}/rollback`, {})).status).toBe(200)

      const again = await send('/v1/transactions', options)
      const insert = await send(`/v1/transactions/${again.body.id}/query`, {
        sql: `insert into ${table} values (5)`,
      })
      expect(insert.status).toBe(403)
      expect(insert.body.error).toMatchObject({ code: 'FORBIDDEN', sqlstate: '25006' })
      await send(`/v1/transactions/${again.body.id}/commit`, {})
      expect(await written(5)).toBe(0)
    })
  }

  it('leaves a readwrite token free to write, in a query, a batch and a transaction', async () => {
    expect(
      (await send('/v1/query', { sql: `insert into ${table} values (6)` }, t.token)).status,
    ).toBe(200)
    const batch = await send(
      '/v1/batch',
      { statements: [{ sql: `insert into ${table} values (6)` }] },
      t.token,
    )
    expect(batch.status).toBe(200)
    const begun = await send('/v1/transactions', {}, t.token)
    await send(
      `/v1/transactions/${begun.body.id}/query`,
      { sql: `insert into ${table} values (6)` },
      t.token,
    )
    expect((await send(`/v1/transactions/${begun.body.id}/commit`, {}, t.token)).body).toEqual({
      committed: true,
    })
    expect(await written(6)).toBe(3)
  })
})
