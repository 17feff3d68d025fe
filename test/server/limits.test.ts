/**
 * Every limit at its boundary, over a listening gateway: the limit itself is served, one more
 * is refused. maxRows and maxResultBytes (the byte budget shared by the statements of a batch
 * or an interactive transaction: a row counts as PostgreSQL sends it, 6 bytes, plus 4 and the
 * length of each value), the
 * statementTimeoutMs cap on a requested timeout, MAX_TIMEOUT_MS, MAX_PARAMS and
 * MAX_BATCH_STATEMENTS. (bodyLimitBytes: test/server/http/node-request.test.ts; maxWaiting:
 * test/server/pool/pool.test.ts; the transaction caps: test/server/engine/transactions.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MAX_BATCH_STATEMENTS, MAX_PARAMS, MAX_TIMEOUT_MS } from '../../src/protocol.js'
import { effectiveTimeout } from '../../server/engine/run.js'
import type { Tenant } from '../../server/tenants/tenant.js'
import { listenTestGateway, type ListeningGateway } from '../helpers/gateway.js'

const MAX_ROWS = 3
const MAX_BYTES = 100
const CAP_MS = 400

/** POSTs over the socket with the readwrite token and reads the JSON answer. */
async function post(t: ListeningGateway, path: string, body: unknown) {
  const res = await fetch(`${t.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${t.token}` },
    body: JSON.stringify(body),
  })
  return { status: res.status, body: (await res.json()) as any }
}

/** A one-row, one-column result that counts `bytes` against maxResultBytes (6 + 4 + its length). */
const resultOf = (bytes: number) => `select repeat('x', ${bytes - 10})`

describe('limits at their boundaries', () => {
  let t: ListeningGateway
  beforeAll(async () => {
    t = await listenTestGateway({
      pool: { min: 0, max: 2 },
      maxRows: MAX_ROWS,
      maxResultBytes: MAX_BYTES,
      statementTimeoutMs: CAP_MS,
      transactions: { maxOpenShare: 1 },
    })
  })
  afterAll(() => t.close())

  const send = (path: string, body: unknown) => post(t, path, body)
  const tooLarge = (answer: { status: number; body: any }, limit: string) => {
    expect(answer.status).toBe(413)
    expect(answer.body.error.code).toBe('RESULT_TOO_LARGE')
    expect(answer.body.error.message).toContain(limit)
  }

  it('answers maxRows rows, and RESULT_TOO_LARGE for one more', async () => {
    const fits = await send('/v1/query', { sql: `select generate_series(1, ${MAX_ROWS})` })
    expect(fits.status).toBe(200)
    expect(fits.body.rows).toHaveLength(MAX_ROWS)
    tooLarge(
      await send('/v1/query', { sql: `select generate_series(1, ${MAX_ROWS + 1})` }),
      'maxRows',
    )
  })

  it('answers a result of maxResultBytes, and RESULT_TOO_LARGE for one byte more', async () => {
    const fits = await send('/v1/query', { sql: resultOf(MAX_BYTES) })
    expect(fits.status).toBe(200)
    expect(fits.body.rows[0][0]).toHaveLength(MAX_BYTES - 10)
    tooLarge(await send('/v1/query', { sql: resultOf(MAX_BYTES + 1) }), 'maxResultBytes')
  })

  it('counts maxResultBytes over all the statements of a batch', async () => {
    const half = MAX_BYTES / 2
    const fits = await send('/v1/batch', {
      statements: [{ sql: resultOf(half) }, { sql: resultOf(half) }],
    })
    expect(fits.status).toBe(200)
    const over = await send('/v1/batch', {
      statements: [{ sql: resultOf(half) }, { sql: resultOf(half + 1) }],
    })
    tooLarge(over, 'maxResultBytes')
    expect(over.body.error.statementIndex).toBe(1)
  })

  it('counts maxResultBytes over all the statements of an interactive transaction', async () => {
    const half = MAX_BYTES / 2
    const fits = await send('/v1/transactions', {})
    for (const sql of [resultOf(half), resultOf(half)])
      expect((await send(`/v1/transactions/${fits.body.id}/query`, { sql })).status).toBe(200)
    expect((await send(`/v1/transactions/${fits.body.id}/commit`, {})).status).toBe(200)

    const over = await send('/v1/transactions', {})
    const first = await send(`/v1/transactions/${over.body.id}/query`, { sql: resultOf(half) })
    expect(first.status).toBe(200)
    const second = await send(`/v1/transactions/${over.body.id}/query`, {
      sql: resultOf(half + 1),
    })
    tooLarge(second, 'maxResultBytes')
    await send(`/v1/transactions/${over.body.id}/rollback`, {})
  })

  it("caps a requested timeoutMs at the tenant's statementTimeoutMs", () => {
    const tenant = { config: { statementTimeoutMs: CAP_MS } } as Tenant
    expect(effectiveTimeout(tenant, undefined)).toBe(CAP_MS)
    expect(effectiveTimeout(tenant, CAP_MS - 1)).toBe(CAP_MS - 1)
    expect(effectiveTimeout(tenant, CAP_MS)).toBe(CAP_MS)
    expect(effectiveTimeout(tenant, CAP_MS + 1)).toBe(CAP_MS)
  })

  it('stops a batch that asked for more than statementTimeoutMs at the cap', async () => {
    // Four statements of 150 ms, 600 ms in all: each stays well under PostgreSQL's own
    // statement_timeout (the cap, counted per statement), so only the gateway's deadline for
    // the whole batch, capped, can stop it.
    const answer = await send('/v1/batch', {
      statements: Array.from({ length: 4 }, () => ({ sql: 'select pg_sleep(0.15)' })),
      timeoutMs: 60_000,
    })
    expect(answer.status).toBe(504)
    expect(answer.body.error.code).toBe('STATEMENT_TIMEOUT')
    expect(answer.body.error.statementIndex).toBeGreaterThanOrEqual(2)
  })
})

// The protocol's own limits (src/protocol.ts), on a tenant with the default limits: a thousand
// statements or 65,535 parameters take a while on a busy machine.
describe('protocol limits at their boundaries', () => {
  let t: ListeningGateway
  beforeAll(async () => {
    t = await listenTestGateway({ pool: { min: 0, max: 2 }, transactions: { maxOpenShare: 1 } })
  })
  afterAll(() => t.close())

  const send = (path: string, body: unknown) => post(t, path, body)

  it('accepts a timeoutMs of MAX_TIMEOUT_MS, and refuses one more, on every route', async () => {
    const over = MAX_TIMEOUT_MS + 1
    expect((await send('/v1/query', { sql: 'select 1', timeoutMs: MAX_TIMEOUT_MS })).status).toBe(
      200,
    )
    const query = await send('/v1/query', { sql: 'select 1', timeoutMs: over })
    expect(query.status).toBe(400)
    expect(query.body.error.message).toContain('timeoutMs')
    const statements = [{ sql: 'select 1' }]
    expect((await send('/v1/batch', { statements, timeoutMs: MAX_TIMEOUT_MS })).status).toBe(200)
    expect((await send('/v1/batch', { statements, timeoutMs: over })).status).toBe(400)
    for (const field of ['timeoutMs', 'idleTimeoutMs']) {
      const begun = await send('/v1/transactions', { [field]: MAX_TIMEOUT_MS })
      expect(begun.status).toBe(201)
      await send(`/v1/transactions/${begun.body.id}/rollback`, {})
      const refused = await send('/v1/transactions', { [field]: over })
      expect(refused.status).toBe(400)
      expect(refused.body.error.message).toContain(field)
    }
  })

  it('runs a statement with MAX_PARAMS parameters, and refuses one more', async () => {
    const placeholders = (n: number) => Array.from({ length: n }, (_, i) => `$${i + 1}`).join(',')
    const fits = await send('/v1/query', {
      sql: `select array_length(array[${placeholders(MAX_PARAMS)}]::int[], 1)`,
      params: Array.from({ length: MAX_PARAMS }, (_, i) => i),
    })
    expect(fits.status, JSON.stringify(fits.body)).toBe(200)
    expect(fits.body.rows).toEqual([[String(MAX_PARAMS)]])
    const over = await send('/v1/query', {
      sql: `select array_length(array[${placeholders(MAX_PARAMS + 1)}]::int[], 1)`,
      params: Array.from({ length: MAX_PARAMS + 1 }, (_, i) => i),
    })
    expect(over.status).toBe(400)
    expect(over.body.error.message).toBe(
      `params: Too big: expected array to have <=${MAX_PARAMS} items`,
    )
  })

  it('runs a batch of MAX_BATCH_STATEMENTS statements, and refuses one more', async () => {
    const statements = (n: number) =>
      Array.from({ length: n }, (_, i) => ({ sql: `select ${i} where false` }))
    const fits = await send('/v1/batch', { statements: statements(MAX_BATCH_STATEMENTS) })
    expect(fits.status).toBe(200)
    expect(fits.body.results).toHaveLength(MAX_BATCH_STATEMENTS)
    const over = await send('/v1/batch', { statements: statements(MAX_BATCH_STATEMENTS + 1) })
    expect(over.status).toBe(400)
    expect(over.body.error.message).toContain(`<=${MAX_BATCH_STATEMENTS} items`)
  })
})
