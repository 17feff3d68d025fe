/**
 * Browsers: preflights answered before authentication for an origin some tenant allows,
 * the allow headers on every answer (errors and streams included) only when the caller's
 * own tenant allows the origin, on the direct path and the Hono app alike.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  databaseUrl,
  listenTestGateway,
  newToken,
  type ListeningGateway,
} from '../../helpers/gateway.js'

const ALLOWED = 'https://app.example.com'
const OTHERS = 'https://other.example.com'
const EVIL = 'https://evil.example'

let t: ListeningGateway
let base: string
const otherToken = newToken()

beforeAll(async () => {
  t = await listenTestGateway(
    { cors: { origins: [ALLOWED] } },
    {
      extraTenants: {
        other: {
          connection: { url: databaseUrl() },
          tokens: [{ token: otherToken }],
          allowPrivilegedRole: true,
          cors: { origins: [OTHERS] },
        },
      },
    },
  )
  base = t.url
})

afterAll(() => t.close())

function preflight(path: string, origin: string) {
  return fetch(`${base}${path}`, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization, content-type',
    },
  })
}

function post(path: string, body: unknown, origin: string, token: string | null, accept?: string) {
  return fetch(`${base}${path}`, {
    method: 'POST',
    headers: {
      origin,
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      ...(accept ? { accept } : {}),
    },
    body: JSON.stringify(body),
  })
}

describe('CORS', () => {
  it.each(['/v1/query', '/v1/batch', '/v1/transactions', '/sql'])(
    'answers a preflight to %s before authentication for an allowed origin',
    async (path) => {
      const res = await preflight(path, ALLOWED)
      expect(res.status).toBe(204)
      expect(res.headers.get('access-control-allow-origin')).toBe(ALLOWED)
      expect(res.headers.get('access-control-allow-methods')).toContain('POST')
      expect(res.headers.get('access-control-allow-headers')).toContain('authorization')
    },
  )

  it('refuses a preflight from an origin no tenant allows, with the protocol error body', async () => {
    const res = await preflight('/v1/query', EVIL)
    expect(res.status).toBe(403)
    expect(res.headers.get('access-control-allow-origin')).toBeNull()
    expect(((await res.json()) as any).error.code).toBe('FORBIDDEN')
  })

  it('opens answers on the direct path and the Hono app to the origin the tenant allows', async () => {
    for (const path of ['/v1/query', '/v1/batch']) {
      const body =
        path === '/v1/query' ? { sql: 'select 1' } : { statements: [{ sql: 'select 1' }] }
      const res = await post(path, body, ALLOWED, t.token)
      expect(res.status, path).toBe(200)
      expect(res.headers.get('access-control-allow-origin'), path).toBe(ALLOWED)
      expect(res.headers.get('access-control-expose-headers'), path).toContain('X-Request-Id')
      expect(res.headers.get('vary'), path).toContain('Origin')
    }
  })

  it('opens error answers too, so a page can read why', async () => {
    const bad = await post('/v1/query', { sql: 'select * from nope' }, ALLOWED, t.token)
    expect(bad.status).toBe(400)
    expect(bad.headers.get('access-control-allow-origin')).toBe(ALLOWED)
    const unauthorized = await post('/v1/query', { sql: 'select 1' }, ALLOWED, null)
    expect(unauthorized.status).toBe(401)
    expect(unauthorized.headers.get('access-control-allow-origin')).toBe(ALLOWED)
  })

  it("keeps a tenant's answers closed to an origin only another tenant allows", async () => {
    for (const path of ['/v1/query', '/v1/batch']) {
      const body =
        path === '/v1/query' ? { sql: 'select 1' } : { statements: [{ sql: 'select 1' }] }
      const res = await post(path, body, ALLOWED, otherToken)
      expect(res.status, path).toBe(200)
      expect(res.headers.get('access-control-allow-origin'), path).toBeNull()
    }
    const own = await post('/v1/query', { sql: 'select 1' }, OTHERS, otherToken)
    expect(own.headers.get('access-control-allow-origin')).toBe(OTHERS)
  })

  it('opens a streamed answer, on the direct path and inside a transaction', async () => {
    const stream = await post(
      '/v1/query',
      { sql: 'select 1' },
      ALLOWED,
      t.token,
      'application/x-ndjson',
    )
    expect(stream.headers.get('access-control-allow-origin')).toBe(ALLOWED)
    await stream.text()
    const begin = await post('/v1/transactions', {}, ALLOWED, t.token)
    const { id } = (await begin.json()) as any
    const inside = await post(
      `/v1/transactions/${id}/query`,
      { sql: 'select 1' },
      ALLOWED,
      t.token,
      'application/x-ndjson',
    )
    expect(inside.headers.get('access-control-allow-origin')).toBe(ALLOWED)
    await inside.text()
    await post(`/v1/transactions/${id}/rollback`, {}, ALLOWED, t.token)
  })

  it('adds nothing for a request without an Origin (servers, not browsers)', async () => {
    const res = await fetch(`${base}/v1/query`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.token}` },
      body: JSON.stringify({ sql: 'select 1' }),
    })
    expect(res.headers.get('access-control-allow-origin')).toBeNull()
  })

  it('refuses an origin with a path in the config, saying what an origin is', async () => {
    await expect(
      listenTestGateway({ cors: { origins: ['https://app.example.com/'] } }),
    ).rejects.toThrow(/must be an origin such as/)
  })
})
