import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { admin, startTestGateway, type TestGateway } from '../helpers/gateway.js'

describe('readonly tokens', () => {
  let t: TestGateway
  beforeAll(async () => {
    t = await startTestGateway({ pool: { min: 0, max: 2 } })
    await admin('create table if not exists readonly_probe (x int)')
    await admin('truncate readonly_probe')
  })
  afterAll(() => t.close())

  const count = async () => (await admin('select count(*)::int as n from readonly_probe'))[0].n

  it('may read', async () => {
    const { status, body } = await t.json('/v1/query', { sql: 'select 1 as one' }, t.readonlyToken)
    expect(status).toBe(200)
    expect(body.rows).toEqual([['1']])
  })

  it('gets FORBIDDEN for a write, refused by PostgreSQL itself (sqlstate 25006)', async () => {
    const { status, body } = await t.json(
      '/v1/query',
      { sql: 'insert into readonly_probe values (1)' },
      t.readonlyToken,
    )
    expect(status).toBe(403)
    expect(body.error).toMatchObject({ code: 'FORBIDDEN', sqlstate: '25006' })
    expect(await count()).toBe(0)
  })

  it('cannot lift read-only mode inside a batch', async () => {
    const { status, body } = await t.json(
      '/v1/batch',
      {
        statements: [
          { sql: 'set transaction read write' },
          { sql: 'insert into readonly_probe values (2)' },
        ],
      },
      t.readonlyToken,
    )
    expect(status).toBeGreaterThanOrEqual(400)
    expect(body.error.statementIndex).toBe(0)
    expect(await count()).toBe(0)
  })

  it('cannot escape with COMMIT in a batch', async () => {
    const { status, body } = await t.json(
      '/v1/batch',
      { statements: [{ sql: 'commit' }, { sql: 'insert into readonly_probe values (3)' }] },
      t.readonlyToken,
    )
    expect(status).toBe(400)
    expect(body.error.code).toBe('BAD_REQUEST')
    expect(await count()).toBe(0)
  })

  it('a readwrite token may still write', async () => {
    const { status } = await t.json('/v1/query', { sql: 'insert into readonly_probe values (4)' })
    expect(status).toBe(200)
    expect(await count()).toBe(1)
    await admin('truncate readonly_probe')
  })
})
