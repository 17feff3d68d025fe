import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { databaseUrl, newToken, startTestGateway, type TestGateway } from '../helpers/gateway.js'

describe('tenant isolation', () => {
  let t: TestGateway
  const otherToken = newToken()
  beforeAll(async () => {
    t = await startTestGateway(
      { pool: { min: 0, max: 2 } },
      {
        extraTenants: {
          other: {
            allowPrivilegedRole: true,
            connection: { url: databaseUrl('other') },
            tokens: [{ token: otherToken }],
            pool: { min: 0, max: 2 },
          },
        },
      },
    )
  })
  afterAll(() => t.close())

  it("routes each token to its own tenant's database", async () => {
    const mine = await t.json('/v1/query', { sql: 'select current_database()' })
    const theirs = await t.json('/v1/query', { sql: 'select current_database()' }, otherToken)
    expect(mine.body.rows[0][0]).toBe(new URL(databaseUrl()).pathname.slice(1))
    expect(theirs.body.rows[0][0]).toBe(new URL(databaseUrl('other')).pathname.slice(1))
    expect(mine.body.rows[0][0]).not.toBe(theirs.body.rows[0][0])
  })

  it("never lets tenant A's token see tenant B's tables", async () => {
    await t.json(
      '/v1/query',
      { sql: 'create table if not exists only_in_other (x int)' },
      otherToken,
    )
    const { status, body } = await t.json('/v1/query', { sql: 'select * from only_in_other' })
    expect(status).toBe(400)
    expect(body.error.sqlstate).toBe('42P01')
    expect(t.gateway.tenants.get('main')!.pool.stats().requestsNum).toBeGreaterThan(0)
  })

  it('answers UNAUTHORIZED for a missing or unknown token', async () => {
    const missing = await t.post('/v1/query', { sql: 'select 1' }, { token: null })
    expect(missing.status).toBe(401)
    expect(((await missing.json()) as any).error.code).toBe('UNAUTHORIZED')
    const unknown = await t.post('/v1/query', { sql: 'select 1' }, { token: newToken() })
    expect(unknown.status).toBe(401)
  })
})
