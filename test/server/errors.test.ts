import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ERROR_STATUS } from '../../src/errors.js'
import { backends, eventually, startTestGateway, type TestGateway } from '../helpers/gateway.js'

describe('errors', () => {
  let t: TestGateway
  const bugs: unknown[] = []
  beforeAll(async () => {
    t = await startTestGateway(
      { pool: { min: 0, max: 2 }, maxRows: 5, maxResultBytes: 2000 },
      {
        server: { bodyLimitBytes: 4096 },
        reportBug: (error) => bugs.push(error),
        extraRoutes: (app) =>
          app.get('/boom', () => {
            throw new Error('secret internal detail')
          }),
      },
    )
  })
  afterAll(() => t.close())

  const expectError = async (res: Response, code: string) => {
    const body = (await res.json()) as any
    expect(res.status).toBe(ERROR_STATUS[code as keyof typeof ERROR_STATUS])
    expect(body.error.code).toBe(code)
    expect(typeof body.error.message).toBe('string')
    expect(typeof body.error.retryable).toBe('boolean')
    return body.error
  }

  it('answers BAD_REQUEST for a body that is not JSON', async () => {
    const error = await expectError(await t.post('/v1/query', '{nope'), 'BAD_REQUEST')
    expect(error.message).toContain('not valid JSON')
  })

  it('answers BAD_REQUEST naming the field for a body of the wrong shape', async () => {
    const error = await expectError(await t.post('/v1/query', { sql: 42 }), 'BAD_REQUEST')
    expect(error.message).toContain('sql')
    await expectError(await t.post('/v1/query', { sql: 'select $1', params: [{}] }), 'BAD_REQUEST')
    await expectError(await t.post('/v1/batch', { statements: [] }), 'BAD_REQUEST')
    await expectError(
      await t.post('/v1/batch', { statements: [{ sql: 'select 1' }], isolation: 'chaos' }),
      'BAD_REQUEST',
    )
  })

  it('refuses COPY to or from the client, which HTTP cannot carry', async () => {
    const error = await expectError(
      await t.post('/v1/query', { sql: 'copy pg_class to stdout' }),
      'BAD_REQUEST',
    )
    expect(error.message).toContain('COPY')
  })

  it('accepts a JSON body without a JSON Content-Type', async () => {
    const res = await t.post('/v1/query', JSON.stringify({ sql: 'select 1' }), {
      headers: { 'Content-Type': 'text/plain' },
    })
    expect(res.status).toBe(200)
  })

  it('refuses several statements in one /v1/query', async () => {
    const error = await expectError(
      await t.post('/v1/query', { sql: 'select 1; select 2' }),
      'BAD_REQUEST',
    )
    expect(error.message).toContain('2 statements')
    // Semicolons inside strings, comments and dollar quotes are not separators.
    const fine = await t.post('/v1/query', {
      sql: "select ';' as a, $$;$$ as b -- ; \n /* ; */",
    })
    expect(fine.status).toBe(200)
  })

  it('passes on PostgreSQL errors as DATABASE_ERROR with their fields', async () => {
    const error = await expectError(
      await t.post('/v1/query', { sql: 'select * from nope' }),
      'DATABASE_ERROR',
    )
    expect(error).toMatchObject({
      message: 'relation "nope" does not exist',
      retryable: false,
      sqlstate: '42P01',
      severity: 'ERROR',
      position: '15',
    })
    expect(error).not.toHaveProperty('file')
    expect(error).not.toHaveProperty('routine')
  })

  it('answers CONFLICT, retryable, for a serialization failure', async () => {
    const error = await expectError(
      await t.post('/v1/query', {
        sql: "do $$ begin raise exception 'could not serialize' using errcode = '40001'; end $$",
      }),
      'CONFLICT',
    )
    expect(error).toMatchObject({ retryable: true, sqlstate: '40001' })
  })

  it('answers NOT_FOUND for an unknown route', async () => {
    await expectError(await t.post('/v1/nope', {}), 'NOT_FOUND')
  })

  it('answers a body of bodyLimitBytes, and PAYLOAD_TOO_LARGE for one byte more', async () => {
    /** A valid query body of exactly `bytes` bytes. */
    const bodyOf = (bytes: number) => {
      const body = JSON.stringify({ sql: `select 1 -- ${'x'.repeat(bytes - 22)}` })
      expect(Buffer.byteLength(body)).toBe(bytes)
      return body
    }
    expect((await t.post('/v1/query', bodyOf(4096))).status).toBe(200)
    const error = await expectError(await t.post('/v1/query', bodyOf(4097)), 'PAYLOAD_TOO_LARGE')
    expect(error.message).toContain('4096')
  })

  it('answers RESULT_TOO_LARGE past maxRows or maxResultBytes, not at them', async () => {
    expect((await t.post('/v1/query', { sql: 'select generate_series(1, 5)' })).status).toBe(200)
    const rows = await expectError(
      await t.post('/v1/query', { sql: 'select generate_series(1, 6)' }),
      'RESULT_TOO_LARGE',
    )
    expect(rows.message).toContain('maxRows')
    // A row counts as PostgreSQL sends it: 6 bytes, plus 4 and the length of each value,
    // so 6 + 4 + 1990 = maxResultBytes.
    expect((await t.post('/v1/query', { sql: "select repeat('x', 1990)" })).status).toBe(200)
    const bytes = await expectError(
      await t.post('/v1/query', { sql: "select repeat('x', 1991)" }),
      'RESULT_TOO_LARGE',
    )
    expect(bytes.message).toContain('maxResultBytes')
    // The connection is fine afterwards.
    expect((await t.post('/v1/query', { sql: 'select 1' })).status).toBe(200)
  })

  it('answers STATEMENT_TIMEOUT and cancels the statement in PostgreSQL', async () => {
    const error = await expectError(
      await t.post('/v1/query', { sql: 'select pg_sleep(30)', timeoutMs: 200 }),
      'STATEMENT_TIMEOUT',
    )
    expect(error.retryable).toBe(false)
    await eventually(async () =>
      (await backends(t.applicationName)).every((b) => b.state !== 'active'),
    )
  })

  it('answers INTERNAL for a bug, revealing nothing but the request id', async () => {
    const res = await t.gateway.app.request('/boom')
    const text = await res.text()
    expect(res.status).toBe(500)
    expect(JSON.parse(text).error.code).toBe('INTERNAL')
    expect(text).not.toContain('secret internal detail')
    expect(text).toContain(res.headers.get('x-request-id')!)
    expect(bugs).toHaveLength(1)
  })

  it('echoes a caller-supplied X-Request-Id', async () => {
    const res = await t.post(
      '/v1/query',
      { sql: 'select 1' },
      { headers: { 'X-Request-Id': 'abc-123' } },
    )
    expect(res.headers.get('x-request-id')).toBe('abc-123')
  })
})
