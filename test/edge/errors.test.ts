import { runInNewContext } from 'node:vm'
import { describe, expect, it, vi } from 'vitest'
import {
  ClientError,
  DatabaseError,
  GatewayError,
  createClient,
  isClientError,
  isDatabaseError,
  isGatewayError,
  isSluiceError,
} from '../../edge/index.js'
import { errorFromResponse } from '../../edge/errors.js'

const body = {
  error: {
    code: 'DATABASE_ERROR',
    message: 'duplicate key value violates unique constraint "t_pkey"',
    retryable: false,
    sqlstate: '23505',
    constraint: 't_pkey',
    statementIndex: 2,
    stack: 'a body cannot plant properties the protocol does not have',
  },
}

describe('client errors', () => {
  it('rebuilds a DatabaseError from an error body with the protocol fields only', () => {
    const response = new Response(null, { status: 400, headers: { 'x-request-id': 'req-1' } })
    const error = errorFromResponse(body, response) as DatabaseError
    expect(error).toBeInstanceOf(DatabaseError)
    expect(error).toBeInstanceOf(GatewayError)
    expect(error).toMatchObject({
      code: 'DATABASE_ERROR',
      sqlstate: '23505',
      constraint: 't_pkey',
      statementIndex: 2,
      requestId: 'req-1',
      retryable: false,
    })
    expect(error.stack).not.toContain('a body cannot plant')
    expect(isSluiceError(error)).toBe(true)
  })

  it('reads Retry-After into retryAfter', () => {
    const response = new Response(null, { status: 503, headers: { 'retry-after': '2' } })
    const error = errorFromResponse(
      { error: { code: 'POOL_TIMEOUT', message: 'busy', retryable: true } },
      response,
    ) as GatewayError
    expect(error).toMatchObject({ code: 'POOL_TIMEOUT', retryable: true, retryAfter: 2 })
    expect(isDatabaseError(error)).toBe(false)
  })

  it('answers BAD_RESPONSE for an answer that is not the protocol (a proxy error page)', () => {
    const error = errorFromResponse(undefined, new Response('<html>', { status: 502 }))
    expect(isClientError(error)).toBe(true)
    expect(error).toMatchObject({ code: 'BAD_RESPONSE', status: 502, retryable: false })
  })

  it('answers BAD_RESPONSE for a 200 whose JSON is not the answer asked for, never a TypeError', async () => {
    // A proxy or a gateway of another version answering `{}`, `[]`, `{"ok":true}`…
    for (const text of ['{}', '[]', '{"ok":true}', '{"rows":null}']) {
      const fetch = async () => new Response(text, { status: 200 })
      const db = createClient({ url: 'http://gateway.test', token: 't', fetch, retry: false })
      const failures = await Promise.all([
        db.query('select 1').catch((error: unknown) => error),
        db.batch(['select 1']).catch((error: unknown) => error),
        db.begin().catch((error: unknown) => error),
      ])
      for (const error of failures)
        expect(error, text).toMatchObject({ code: 'BAD_RESPONSE', status: 200 })
    }
  })

  it('guards errors from another copy of the module, where instanceof fails', async () => {
    vi.resetModules()
    const copy = await import('../../edge/errors.js')
    expect(copy.DatabaseError).not.toBe(DatabaseError)
    const foreign = copy.errorFromResponse(body, new Response(null, { status: 400 }))
    expect(foreign).not.toBeInstanceOf(DatabaseError)
    expect(isDatabaseError(foreign)).toBe(true)
    expect(isGatewayError(foreign)).toBe(true)
    const client = new copy.ClientError('NETWORK_ERROR', 'down')
    expect(client).not.toBeInstanceOf(ClientError)
    expect(isClientError(client)).toBe(true)
    expect(isGatewayError(client)).toBe(false)
  })

  it('guards errors built in another realm', () => {
    const foreign = runInNewContext(
      `const e = new Error('x'); Object.defineProperty(e, Symbol.for('sluice.client-error'), { value: true }); e`,
    )
    expect(foreign instanceof Error).toBe(false)
    expect(isClientError(foreign)).toBe(true)
    expect(isClientError(new Error('x'))).toBe(false)
    expect(isDatabaseError(null)).toBe(false)
  })
})

describe('createClient', () => {
  it('checks its options once, when called', () => {
    expect(() => createClient({ url: 'ftp://x', token: 't' })).toThrow(TypeError)
    expect(() => createClient({ url: 'http://x', token: '' })).toThrow(/token/)
    expect(() => createClient({ url: 'http://x', token: 't', timeoutMs: 0 })).toThrow(/timeoutMs/)
    expect(() => createClient({ url: 'https://x/', token: 't' })).not.toThrow()
  })
})
