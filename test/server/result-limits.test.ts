import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { admin, eventually, listenTestGateway, type ListeningGateway } from '../helpers/gateway.js'

let t: ListeningGateway
let base: string

beforeAll(async () => {
  // A statement timeout far beyond the test's: only the limits can end these statements.
  t = await listenTestGateway({
    pool: { min: 1, max: 2 },
    maxRows: 5,
    maxResultBytes: 4096,
    statementTimeoutMs: 120_000,
  })
  base = t.url
})

afterAll(() => t.close())

async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(base + path, {
    method: 'POST',
    headers: { Authorization: `Bearer ${t.token}`, ...headers },
    body: JSON.stringify(body),
  })
  return { status: res.status, body: (await res.json()) as any }
}

const running = () =>
  admin("select 1 from pg_stat_activity where application_name = $1 and state = 'active'", [
    t.applicationName,
  ])

// A set-returning function in the select list yields rows for ever (until cancelled).
const ENDLESS = 'select n from (select generate_series(1, 1e15::bigint) as n) s'

describe('result limits', () => {
  it('stops a statement at maxRows instead of reading the rest of its rows', async () => {
    const answer = await post('/v1/query', { sql: ENDLESS })
    expect(answer.status).toBe(413)
    expect(answer.body.error.code).toBe('RESULT_TOO_LARGE')
    expect(answer.body.error.message).toContain('maxRows')
    await eventually(async () => (await running()).length === 0)
  })

  it('stops a statement at maxResultBytes the same way', async () => {
    const answer = await post('/v1/query', {
      sql: "select repeat('x', 1000) from (select generate_series(1, 1e15::bigint)) s",
    })
    expect(answer.status).toBe(413)
    expect(answer.body.error.message).toContain('maxResultBytes')
    await eventually(async () => (await running()).length === 0)
  })

  it('ends a transaction whose statement passed a limit, as any cancelled statement does', async () => {
    const { body: tx } = await t.json('/v1/transactions', {})
    const answer = await post(`/v1/transactions/${tx.id}/query`, { sql: ENDLESS })
    expect(answer.body.error.code).toBe('RESULT_TOO_LARGE')
    const after = await post(`/v1/transactions/${tx.id}/query`, { sql: 'select 1' })
    expect(after.body.error.code).toBe('TX_NOT_FOUND')
  })

  it('refuses a notice too large to hold, and the pool carries on', async () => {
    const answer = await post('/v1/query', {
      sql: "do $$ begin raise notice '%', repeat('x', 2 * 1024 * 1024); end $$",
    })
    expect(answer.body.error.code).toBe('RESULT_TOO_LARGE')
    expect((await post('/v1/query', { sql: 'select 1' })).status).toBe(200)
  })

  it('applies the same limits to Neon’s /sql, answering 507', async () => {
    const res = await fetch(`${base}/sql`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${t.token}`, 'Neon-Connection-String': 'postgres://x' },
      body: JSON.stringify({ query: "select repeat('x', 200 * 1000 * 1000)", params: [] }),
    })
    expect(res.status).toBe(507)
    expect(await res.json()).toMatchObject({ sluiceCode: 'RESULT_TOO_LARGE' })
  })
})
