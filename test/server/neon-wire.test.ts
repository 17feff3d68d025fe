import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  admin,
  type ListeningGateway,
  listenTestGateway,
  startTestGateway,
  type TestGateway,
} from '../helpers/gateway.js'

// Neon's /sql wire format as raw HTTP, for what the official client never sends: typed
// (non-raw) output, object rows, JSON parameters, limits and malformed requests.

describe('POST /sql wire format', () => {
  let t: TestGateway
  let limited: TestGateway

  const neonHeaders = (token: string, extra: Record<string, string> = {}) => ({
    'Neon-Connection-String': `postgresql://sluice:${encodeURIComponent(token)}@gateway/main`,
    ...extra,
  })
  const sqlRequest = (body: unknown, headers: Record<string, string>, on = t) =>
    on.gateway.app.request('/sql', {
      method: 'POST',
      body: typeof body === 'string' ? body : JSON.stringify(body),
      headers,
    })

  beforeAll(async () => {
    t = await startTestGateway()
    limited = await startTestGateway({ maxRows: 3 }, { server: { bodyLimitBytes: 2048 } })
  })
  afterAll(async () => {
    await t?.close()
    await limited?.close()
  })

  it('answers raw text rows as arrays with pg-style fields, command and rowCount', async () => {
    const res = await sqlRequest(
      { query: 'select $1::int8 as n, null::text as z', params: ['9007199254740993'] },
      neonHeaders(t.token, { 'Neon-Raw-Text-Output': 'true', 'Neon-Array-Mode': 'true' }),
    )
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toContain('application/json')
    expect(await res.json()).toEqual({
      fields: [
        {
          name: 'n',
          dataTypeID: 20,
          tableID: 0,
          columnID: 0,
          dataTypeSize: 8,
          dataTypeModifier: -1,
          format: 'text',
        },
        {
          name: 'z',
          dataTypeID: 25,
          tableID: 0,
          columnID: 0,
          dataTypeSize: -1,
          dataTypeModifier: -1,
          format: 'text',
        },
      ],
      command: 'SELECT',
      rowCount: 1,
      rowAsArray: true,
      rows: [['9007199254740993', null]],
    })
  })

  it('answers typed JSON values in object rows without the raw and array headers', async () => {
    const res = await sqlRequest(
      {
        query: `select 7::int4 as i, 8::int8 as big, 1.5::float8 as f, 'Infinity'::float8 as inf,
          true as b, 'x'::text as s, '{"n": 12345678901234567890, "a": [1]}'::jsonb as j,
          array[1, null, 3]::int4[] as ints, array['a', 'b,c', '"q"']::text[] as texts,
          '{{t,f},{f,t}}'::bool[] as grid, array['{"k": 1}'::json] as docs,
          array['(1,2),(0,0)'::box, '(3,3),(2,2)'::box] as boxes, '[2:3]={5,6}'::int4[] as offset`,
      },
      neonHeaders(t.token),
    )
    expect(res.status).toBe(200)
    const text = await res.text()
    // json/jsonb is embedded as PostgreSQL printed it, so no digit of a big number is lost.
    expect(text).toContain('"j":{"a": [1], "n": 12345678901234567890}')
    const body = JSON.parse(text)
    expect(body.rowAsArray).toBe(false)
    expect(body.rows).toEqual([
      {
        i: 7,
        big: '8',
        f: 1.5,
        inf: 'Infinity',
        b: true,
        s: 'x',
        j: { a: [1], n: Number('12345678901234567890') },
        ints: [1, null, 3],
        texts: ['a', 'b,c', '"q"'],
        grid: [
          [true, false],
          [false, true],
        ],
        docs: [{ k: 1 }],
        boxes: ['(1,2),(0,0)', '(3,3),(2,2)'],
        offset: [5, 6],
      },
    ])
  })

  it('turns JSON parameters into PostgreSQL text as Neon does', async () => {
    const res = await sqlRequest(
      {
        query: `select $1::int4 + 1 as n, $2::bool as b, $3::jsonb as doc, $4::text[] as words,
          $5::int4[] as grid, $6::text as nothing, $7::jsonb[] as docs`,
        params: [
          41,
          true,
          { a: [1, 'x'] },
          ['x', 'y "z" \\ w', null],
          [
            [1, 2],
            [3, 4],
          ],
          null,
          [{ k: 'v' }],
        ],
      },
      neonHeaders(t.token, { 'Neon-Raw-Text-Output': 'true', 'Neon-Array-Mode': 'true' }),
    )
    expect(res.status).toBe(200)
    const body = await res.json()
    expect(body.rows).toEqual([
      [
        '42',
        't',
        '{"a": [1, "x"]}',
        '{x,"y \\"z\\" \\\\ w",NULL}',
        '{{1,2},{3,4}}',
        null,
        '{"{\\"k\\": \\"v\\"}"}',
      ],
    ])
  })

  it('runs { queries } in one transaction and lets each query pick its row shape', async () => {
    const res = await sqlRequest(
      {
        queries: [
          { query: 'select 1 as a', arrayMode: false },
          { query: 'select 2 as b', params: [] },
          { query: 'show transaction_isolation' },
        ],
      },
      neonHeaders(t.token, {
        'Neon-Raw-Text-Output': 'true',
        'Neon-Array-Mode': 'true',
        'Neon-Batch-Isolation-Level': 'RepeatableRead',
        'Neon-Batch-Read-Only': 'true',
        'Neon-Batch-Deferrable': 'false',
      }),
    )
    expect(res.status).toBe(200)
    expect(res.headers.get('neon-batch-isolation-level')).toBe('RepeatableRead')
    expect(res.headers.get('neon-batch-read-only')).toBe('true')
    expect(res.headers.get('neon-batch-deferrable')).toBeNull()
    const body = await res.json()
    expect(body.results.map((r: any) => [r.rowAsArray, r.rows])).toEqual([
      [false, [{ a: '1' }]],
      [true, [['2']]],
      [true, [['repeatable read']]],
    ])
  })

  it('answers an empty { queries } with no results', async () => {
    const res = await sqlRequest({ queries: [] }, neonHeaders(t.token))
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ results: [] })
  })

  it("names Neon's own fields, and sql.transaction, when it refuses a statement", async () => {
    const refusal = async (body: unknown) => {
      const res = await sqlRequest(body, neonHeaders(t.token))
      expect(res.status).toBe(400)
      const error = (await res.json()) as { message: string; code: string }
      expect(error.code).toBe('08P01')
      expect(error.message).not.toMatch(/\/v1\/|statements\.|\bsql\b(?!\.transaction)/)
      return error.message
    }
    expect(await refusal({ query: 'commit' })).toMatch(/^query: COMMIT .*sql\.transaction/)
    expect(await refusal({ query: 'select 1; select 2' })).toMatch(
      /^query holds 2 statements: .*sql\.transaction/,
    )
    expect(
      await refusal({ queries: [{ query: 'select 1' }, { query: 'select $1', params: [] }] }),
    ).toMatch(/^queries\.1\.params: /)
    expect(await refusal({ queries: [{ query: 'select 1' }, { query: 'rollback' }] })).toMatch(
      /^queries\.1\.query: ROLLBACK /,
    )
    expect(await refusal({ queries: [{ query: 'select $1::text', params: ['a\u0000'] }] })).toMatch(
      /^queries\.0\.params\.0 holds a NUL/,
    )
  })

  it('accepts a text/plain body, ignores unknown headers and reads a bearer token', async () => {
    const res = await sqlRequest('{"query":"select 1 as one"}', {
      'Content-Type': 'text/plain;charset=UTF-8',
      Authorization: `Bearer ${t.token}`,
      'Neon-Pool-Opt-In': 'true',
      'X-Something-Else': 'whatever',
    })
    expect(res.status).toBe(200)
    expect((await res.json()).rows).toEqual([{ one: 1 }])
  })

  it('answers database errors with status 400, message, code and the PostgreSQL fields', async () => {
    const table = `neon_wire_${Date.now().toString(36)}`
    await admin(`create table ${table} (id int primary key)`)
    try {
      await admin(`insert into ${table} values (1)`)
      const res = await sqlRequest(
        { query: `insert into ${table} values ($1)`, params: [1] },
        neonHeaders(t.token),
      )
      expect(res.status).toBe(400)
      const body = await res.json()
      expect(body).toMatchObject({
        message: `duplicate key value violates unique constraint "${table}_pkey"`,
        code: '23505',
        sluiceCode: 'DATABASE_ERROR',
        severity: 'ERROR',
        detail: 'Key (id)=(1) already exists.',
        schema: 'public',
        table,
        constraint: `${table}_pkey`,
      })
      expect(Object.keys(body)).not.toContain('file')
      expect(Object.keys(body)).not.toContain('routine')
    } finally {
      await admin(`drop table ${table}`)
    }
  })

  it.each([
    ['a body that is not JSON', '{"query":', {}],
    ['a body with neither query nor queries', { sql: 'select 1' }, {}],
    ['an unknown isolation level', { queries: [] }, { 'Neon-Batch-Isolation-Level': 'Snapshot' }],
    ['two statements in one query', { query: 'select 1; select 2' }, {}],
  ] as const)('answers 400 with SQLSTATE 08P01 for %s', async (_what, body, headers) => {
    const res = await sqlRequest(body, neonHeaders(t.token, headers))
    expect(res.status).toBe(400)
    expect(await res.json()).toMatchObject({ code: '08P01', sluiceCode: 'BAD_REQUEST' })
  })

  it('answers 400 with SQLSTATE 28P01 without a token or with an unknown one', async () => {
    for (const headers of [
      {},
      { 'Neon-Connection-String': 'postgresql://sluice@gateway/main' },
      neonHeaders('wrong-token'),
      { 'Neon-Connection-String': 'not a url' },
    ]) {
      const res = await sqlRequest({ query: 'select 1' }, headers)
      expect(res.status).toBe(400)
      const body = await res.json()
      expect(body).toMatchObject({ code: '28P01', sluiceCode: 'UNAUTHORIZED' })
      expect(JSON.stringify(body)).not.toContain('wrong-token')
    }
  })

  it('answers 413 for a request body over the limit', async () => {
    const res = await sqlRequest(
      { query: `select '${'x'.repeat(4096)}'` },
      neonHeaders(limited.token),
      limited,
    )
    expect(res.status).toBe(413)
    expect(await res.json()).toMatchObject({ code: '54000', sluiceCode: 'PAYLOAD_TOO_LARGE' })
  })

  it('answers 507 for a result over the tenant limit', async () => {
    const res = await sqlRequest(
      { query: 'select generate_series(1, 10)' },
      neonHeaders(limited.token),
      limited,
    )
    expect(res.status).toBe(507)
    expect(await res.json()).toMatchObject({ code: '54000', sluiceCode: 'RESULT_TOO_LARGE' })
  })

  it('refuses new requests with 503 and Retry-After while draining', async () => {
    const draining = await startTestGateway()
    draining.gateway.lifecycle.draining = true
    try {
      const res = await sqlRequest({ query: 'select 1' }, neonHeaders(draining.token), draining)
      expect(res.status).toBe(503)
      expect(res.headers.get('retry-after')).toBe('1')
      expect(await res.json()).toMatchObject({ code: '57P01', sluiceCode: 'SHUTTING_DOWN' })
    } finally {
      draining.gateway.lifecycle.draining = false
      await draining.close()
    }
  })
})

// Timeouts on a listening gateway, as Neon's clients meet them: a statement past the tenant's
// statementTimeoutMs, and a pool with no connection to lend within acquireTimeoutMs.
describe('POST /sql timeouts', () => {
  let t: ListeningGateway
  beforeAll(async () => {
    t = await listenTestGateway({
      statementTimeoutMs: 200,
      // Long enough to open a connection on a busy machine (a timed-out statement's connection
      // is replaced), short beside the transaction that holds the pool in the last test.
      pool: { min: 1, max: 1, acquireTimeoutMs: 1000 },
      transactions: { maxOpenShare: 1 },
    })
  })
  afterAll(() => t.close())

  const sql = (body: unknown) =>
    fetch(`${t.url}/sql`, {
      method: 'POST',
      headers: {
        'Neon-Connection-String': `postgresql://sluice:${encodeURIComponent(t.token)}@gateway/main`,
      },
      body: JSON.stringify(body),
    })

  it('answers a statement past statementTimeoutMs with 400 and SQLSTATE 57014, alone or in a transaction', async () => {
    for (const body of [
      { query: 'select pg_sleep(5)' },
      { queries: [{ query: 'select 1' }, { query: 'select pg_sleep(5)' }] },
    ]) {
      const res = await sql(body)
      expect(res.status).toBe(400)
      expect(await res.json()).toMatchObject({ code: '57014', sluiceCode: 'STATEMENT_TIMEOUT' })
    }
  })

  it('answers 503 with SQLSTATE 53300 and Retry-After when no connection frees in time', async () => {
    const held = (await t.json('/v1/transactions', { idleTimeoutMs: 5000 })).body
    try {
      const res = await sql({ query: 'select 1' })
      expect(res.status).toBe(503)
      expect(res.headers.get('retry-after')).toBe('1')
      expect(await res.json()).toMatchObject({ code: '53300', sluiceCode: 'POOL_TIMEOUT' })
    } finally {
      await t.json(`/v1/transactions/${held.id}/rollback`, {})
    }
    expect((await sql({ query: 'select 1' })).status).toBe(200)
  })
})
