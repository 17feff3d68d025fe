/**
 * One error classification, end to end, over a listening gateway: client mistakes that
 * PostgreSQL would call protocol violations are BAD_REQUEST before they cost a connection,
 * deep JSON is refused on every route, and a client that leaves during a statement is
 * logged and counted as CLIENT_CLOSED (499), not as the timeout its cancel causes.
 */
import { Writable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../../server/log/logger.js'
import {
  backends,
  eventually,
  listenTestGateway,
  type ListeningGateway,
} from '../../helpers/gateway.js'

let t: ListeningGateway
let base: string
const lines: Record<string, any>[] = []

beforeAll(async () => {
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line))
      done()
    },
  })
  t = await listenTestGateway(
    { pool: { min: 1, max: 2 } },
    { logger: createLogger({ level: 'info' }, stream) },
  )
  base = t.url
})

afterAll(() => t.close())

function post(path: string, body: string, signal?: AbortSignal) {
  return fetch(`${base}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${t.token}` },
    body,
    ...(signal ? { signal } : {}),
  })
}

const acquires = () => t.gateway.tenants.get('main')!.pool.stats().requestsNum

describe('error classes', () => {
  it.each([
    ['a parameter the statement does not use', { sql: 'select 1', params: ['x'] }, 'params'],
    ['a parameter missing', { sql: 'select $1::int, $2::int', params: ['1'] }, 'params'],
    ['a NUL byte in the SQL', { sql: 'select 1\u0000' }, 'NUL'],
    ['a NUL byte in a parameter', { sql: 'select $1::text', params: ['a\u0000b'] }, 'NUL'],
    ['half a surrogate pair in the SQL', { sql: "select '\ud83d'" }, 'surrogate'],
    [
      'half a surrogate pair in a parameter',
      { sql: 'select $1::text', params: ['\ude00'] },
      'surrogate',
    ],
  ])(
    'answers %s with BAD_REQUEST, not retryable, without borrowing a connection',
    async (_, body, words) => {
      const before = acquires()
      const res = await post('/v1/query', JSON.stringify(body))
      expect(res.status).toBe(400)
      expect(res.headers.get('retry-after')).toBeNull()
      const error = ((await res.json()) as any).error
      expect(error).toMatchObject({ code: 'BAD_REQUEST', retryable: false })
      expect(error.message).toContain(words)
      expect(acquires()).toBe(before)
    },
  )

  it('answers the same for a statement of a batch, naming it', async () => {
    const res = await post(
      '/v1/batch',
      JSON.stringify({ statements: [{ sql: 'select 1' }, { sql: 'select $1::int' }] }),
    )
    expect(res.status).toBe(400)
    expect(((await res.json()) as any).error.message).toContain('statements.1.params')
  })

  it.each(['/v1/query', '/v1/batch', '/v1/transactions', '/sql'])(
    'refuses JSON nested more than 64 levels deep on %s with BAD_REQUEST',
    async (path) => {
      const deep = `{"sql":"select 1","query":"select 1","statements":${'['.repeat(65)}${']'.repeat(65)}}`
      const res = await post(path, deep)
      expect(res.status).toBe(400)
      const body = (await res.json()) as any
      const code = path === '/sql' ? body.sluiceCode : body.error.code
      expect(code).toBe('BAD_REQUEST')
    },
  )

  it('logs and counts a client that leaves during a statement as CLIENT_CLOSED, and cancels it', async () => {
    const controller = new AbortController()
    const leaving = post(
      '/v1/query',
      JSON.stringify({ sql: "select pg_sleep(5), 'leaver' as tag" }),
      controller.signal,
    ).catch(() => undefined)
    await eventually(async () =>
      (await backends(t.applicationName)).some((b) => b.state === 'active'),
    )
    controller.abort()
    await leaving
    await eventually(() => lines.some((l) => l.msg === 'request' && l.status === 499))
    const line = lines.find((l) => l.msg === 'request' && l.status === 499)!
    expect(line).toMatchObject({ errorCode: 'CLIENT_CLOSED', route: '/v1/query' })
    expect(lines.some((l) => l.errorCode === 'STATEMENT_TIMEOUT')).toBe(false)
    const metrics = await t.gateway.metrics.render()
    expect(metrics).toMatch(
      /sluice_http_requests_total\{[^}]*status="499"[^}]*code="CLIENT_CLOSED"/,
    )
    // The statement was cancelled in PostgreSQL, not left running.
    await eventually(async () =>
      (await backends(t.applicationName)).every((b) => b.state !== 'active'),
    )
  })
})
