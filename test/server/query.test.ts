import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'

describe('POST /v1/query', () => {
  let t: TestGateway
  beforeAll(async () => {
    t = await startTestGateway()
  })
  afterAll(() => t.close())

  it('answers one statement with PostgreSQL text values and type OIDs', async () => {
    const { status, body, headers } = await t.json('/v1/query', {
      sql: "select $1::int4 as n, '2026-11-24 13:12:00.123456+00'::timestamptz as t, null::text as z",
      params: ['41'],
    })
    expect(status).toBe(200)
    expect(headers.get('x-request-id')).toBeTruthy()
    expect(body.command).toBe('SELECT')
    expect(body.rowCount).toBe(1)
    expect(body.fields.map((f: any) => [f.name, f.dataTypeID])).toEqual([
      ['n', 23],
      ['t', 1184],
      ['z', 25],
    ])
    expect(body.rows).toEqual([['41', '2026-11-24 13:12:00.123456+00', null]])
  })
})
