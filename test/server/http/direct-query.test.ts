import type { Server } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../../server/log/logger.js'
import {
  eventually,
  serveGateway,
  startTestGateway,
  type TestGateway,
} from '../../helpers/gateway.js'

// `POST /v1/query` over a socket takes the direct path (server/http/direct-query.ts);
// `app.request()` takes the Hono app. Every answer must be the same either way.

interface Answer {
  status: number
  body: unknown
  headers: Record<string, string | null>
}

const HEADERS = ['content-type', 'retry-after', 'x-request-id'] as const

async function answerOf(res: Response): Promise<Answer> {
  const headers: Record<string, string | null> = {}
  for (const name of HEADERS) headers[name] = res.headers.get(name)
  return { status: res.status, body: await res.json(), headers }
}

// INTERNAL bodies and generated request ids differ per request, by design.
function comparable(answer: Answer): Answer {
  const headers = { ...answer.headers }
  if (headers['x-request-id'] && !headers['x-request-id'].startsWith('caller-'))
    headers['x-request-id'] = 'generated'
  return { ...answer, headers }
}

let t: TestGateway
let server: Server
let base: string
const logLines: Record<string, unknown>[] = []
const bugs: unknown[] = []

beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) logLines.push(JSON.parse(line))
      done()
    },
  })
  t = await startTestGateway(
    { pool: { min: 1, max: 2 } },
    {
      server: { bodyLimitBytes: 1024 },
      logger: createLogger({ level: 'info' }, sink),
      reportBug: (error) => bugs.push(error),
    },
  )
  server = serveGateway(t.gateway)
  await new Promise((resolve) => server.once('listening', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterAll(async () => {
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
  await t.close()
})

/** Sends the same request both ways. */
async function both(
  body: string,
  headers: Record<string, string> = {},
): Promise<{ direct: Answer; hono: Answer }> {
  const init = () => ({ method: 'POST', body, headers: { ...headers } })
  const direct = await answerOf(await fetch(`${base}/v1/query`, init()))
  const hono = await answerOf(await t.gateway.app.request('/v1/query', init()))
  return { direct, hono }
}

const auth = () => ({ authorization: `Bearer ${t.token}` })

describe('the direct /v1/query path', () => {
  const cases: [string, () => [string, Record<string, string>]][] = [
    [
      'a query',
      () => [JSON.stringify({ sql: 'select 1 as n, $1::text as t', params: ['é'] }), auth()],
    ],
    [
      'a query with a timeout',
      () => [JSON.stringify({ sql: 'select 2', timeoutMs: 5000 }), auth()],
    ],
    ['a body that is not JSON', () => ['{"sql":', auth()]],
    ['an empty body', () => ['', auth()]],
    ['a body of the wrong shape', () => [JSON.stringify({ sql: 1, params: 'x' }), auth()]],
    ['no token', () => [JSON.stringify({ sql: 'select 1' }), {}]],
    [
      'an unknown token',
      () => [JSON.stringify({ sql: 'select 1' }), { authorization: 'Bearer nope' }],
    ],
    [
      'a body over the limit',
      () => [JSON.stringify({ sql: `select '${'x'.repeat(2000)}'` }), auth()],
    ],
    ['two statements', () => [JSON.stringify({ sql: 'select 1; select 2' }), auth()]],
    ['a transaction statement', () => [JSON.stringify({ sql: 'begin' }), auth()]],
    ['a syntax error', () => [JSON.stringify({ sql: 'selec 1' }), auth()]],
    ['a statement that fails at run time', () => [JSON.stringify({ sql: 'select 1/0' }), auth()]],
    [
      'a write with a readonly token',
      () => [
        JSON.stringify({ sql: 'create temp table direct_ro (id int)' }),
        { authorization: `Bearer ${t.readonlyToken}` },
      ],
    ],
    [
      'a caller request id',
      () => [JSON.stringify({ sql: 'select 1' }), { ...auth(), 'x-request-id': 'caller-1234' }],
    ],
    [
      'an unusable request id',
      () => [JSON.stringify({ sql: 'select 1' }), { ...auth(), 'x-request-id': 'has space' }],
    ],
  ]

  for (const [name, make] of cases) {
    it(`answers ${name} exactly as the Hono app does`, async () => {
      const [body, headers] = make()
      const { direct, hono } = await both(body, headers)
      expect(comparable(direct)).toEqual(comparable(hono))
    })
  }

  it('answers SHUTTING_DOWN with Retry-After while draining, as the Hono app does', async () => {
    t.gateway.lifecycle.draining = true
    try {
      const { direct, hono } = await both(JSON.stringify({ sql: 'select 1' }), auth())
      expect(direct.status).toBe(503)
      expect(direct.headers['retry-after']).toBe('1')
      expect(comparable(direct)).toEqual(comparable(hono))
    } finally {
      t.gateway.lifecycle.draining = false
    }
  })

  it('logs and counts its requests like the Hono app', async () => {
    logLines.length = 0
    const request = (id: string) => ({
      method: 'POST',
      body: JSON.stringify({ sql: 'select 1' }),
      headers: { ...auth(), 'x-request-id': id },
    })
    await (await fetch(`${base}/v1/query`, request('caller-direct'))).text()
    await (await t.gateway.app.request('/v1/query', request('caller-hono'))).text()
    // Everything but the id and the timings is the same line.
    const line = (id: string) => {
      const found = logLines.find((l) => l.requestId === id && l.msg === 'request')
      const { requestId, durationMs, statementMs, time, ...rest } = found ?? {}
      expect([requestId, typeof durationMs, typeof statementMs, typeof time]).toEqual([
        id,
        'number',
        'number',
        'string',
      ])
      return rest
    }
    expect(line('caller-direct')).toEqual(line('caller-hono'))
    expect(line('caller-direct')).toMatchObject({ route: '/v1/query', status: 200, statements: 1 })
    const metrics = await t.gateway.metrics.render()
    const served =
      /sluice_http_requests_total\{route="\/v1\/query",method="POST",status="200",code="",tenant="main"\} (\d+)/
    expect(Number(served.exec(metrics)?.[1])).toBeGreaterThanOrEqual(2)
  })

  it('logs CLIENT_CLOSED, not a bug, when the client leaves in the middle of its body', async () => {
    logLines.length = 0
    const { port } = server.address() as AddressInfo
    const socket = connect(port, '127.0.0.1')
    await new Promise((resolve) => socket.once('connect', resolve))
    socket.write(
      `POST /v1/query HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${t.token}\r\n` +
        'x-request-id: caller-gone\r\ncontent-length: 100\r\n\r\n{"sql":',
    )
    // Admitted (its headers read), it now waits for the rest of its body.
    await eventually(() => t.gateway.lifecycle.inFlight === 1)
    socket.destroy()
    await eventually(() => logLines.some((l) => l.requestId === 'caller-gone'))
    expect(logLines.find((l) => l.requestId === 'caller-gone')).toMatchObject({
      status: 499,
      errorCode: 'CLIENT_CLOSED',
    })
    expect(bugs).toEqual([])
  })

  it('returns every connection it borrowed', async () => {
    await Promise.all(
      Array.from({ length: 10 }, () =>
        fetch(`${base}/v1/query`, {
          method: 'POST',
          body: JSON.stringify({ sql: 'select pg_sleep(0.01)' }),
          headers: auth(),
        }).then((r) => r.text()),
      ),
    )
    const pool = t.gateway.tenants.get('main')!.pool
    await eventually(() => pool.stats().poolInUse === 0)
    const stats = pool.stats()
    expect(stats.requestsNum).toBeGreaterThanOrEqual(10)
  })
})
