import type { Server as ServerType } from 'node:http'
import { request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { quickQueryRequest } from '../../../server/http/query-request.js'
import { queryRequestSchema } from '../../../server/http/schemas.js'
import { serveGateway, startTestGateway, type TestGateway } from '../../helpers/gateway.js'

interface Answer {
  status: number
  body: any
}

let gateway: TestGateway
let server: ServerType
let port: number

/** POSTs over a real socket; `chunked` sends the body without a Content-Length. */
function send(
  body: string | Buffer,
  options: { chunked?: boolean; path?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { authorization: `Bearer ${gateway.token}` }
    if (!options.chunked) headers['content-length'] = String(Buffer.byteLength(body))
    const req = request(
      { host: '127.0.0.1', port, path: options.path ?? '/v1/query', method: 'POST', headers },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: JSON.parse(Buffer.concat(chunks).toString()),
          }),
        )
      },
    )
    req.on('error', reject)
    if (options.chunked) {
      // Two writes without a length: Node sends Transfer-Encoding: chunked.
      const bytes = Buffer.from(body)
      const half = Math.floor(bytes.length / 2)
      req.write(bytes.subarray(0, half))
      req.end(bytes.subarray(half))
    } else req.end(body)
  })
}

beforeAll(async () => {
  gateway = await startTestGateway({}, { server: { bodyLimitBytes: 1024 } })
  server = serveGateway(gateway.gateway)
  await new Promise((r) => server.once('listening', r))
  port = (server.address() as AddressInfo).port
})

afterAll(async () => {
  await new Promise((r) => server.close(r))
  await gateway.close()
})

describe('request bodies read from the Node request', () => {
  it('answers a query whose body has a Content-Length', async () => {
    const answer = await send(JSON.stringify({ sql: 'select $1::int + 1 as n', params: [41] }))
    expect(answer.status).toBe(200)
    expect(answer.body.rows).toEqual([['42']])
  })

  it('answers a query whose body is chunked', async () => {
    const answer = await send(JSON.stringify({ sql: 'select $1::text as t', params: ['é ü'] }), {
      chunked: true,
    })
    expect(answer.status).toBe(200)
    expect(answer.body.rows).toEqual([['é ü']])
  })

  /** A valid query body of exactly `bytes` bytes, padded in a comment with two-byte é's. */
  const bodyOf = (bytes: number) => {
    const base = Buffer.byteLength(JSON.stringify({ sql: 'select 1 -- ' }))
    const padding = bytes - base
    const body = JSON.stringify({
      sql: `select 1 -- ${'é'.repeat(Math.floor(padding / 2))}${'x'.repeat(padding % 2)}`,
    })
    expect(Buffer.byteLength(body)).toBe(bytes)
    return body
  }

  for (const chunked of [false, true]) {
    const how = chunked ? 'chunked' : 'with a Content-Length'
    it(`answers a body of bodyLimitBytes ${how}, counted in bytes`, async () => {
      expect((await send(bodyOf(1024), { chunked })).status).toBe(200)
    })

    it(`refuses a body one byte over the limit ${how} with PAYLOAD_TOO_LARGE`, async () => {
      const answer = await send(bodyOf(1025), { chunked })
      expect(answer.status).toBe(413)
      expect(answer.body.error.code).toBe('PAYLOAD_TOO_LARGE')
    })
  }

  it('refuses a body that is not UTF-8 with BAD_REQUEST, rather than writing U+FFFD in its place', async () => {
    // Latin-1 "é" (0xE9) inside the JSON string: not a UTF-8 sequence.
    const latin1 = (json: string) => Buffer.from(json.replace('@', '\u00e9'), 'latin1')
    for (const [path, json] of [
      ['/v1/query', '{"sql":"select $1::text","params":["caf@"]}'],
      ['/v1/batch', '{"statements":[{"sql":"select $1::text","params":["caf@"]}]}'],
    ] as const) {
      for (const chunked of [false, true]) {
        const answer = await send(latin1(json), { chunked, path })
        expect(answer.status, `${path} chunked: ${chunked}`).toBe(400)
        expect(answer.body.error).toMatchObject({
          code: 'BAD_REQUEST',
          message: 'the body is not valid UTF-8, which JSON must be',
        })
      }
    }
    // The in-process app reads the web Request's body instead, with the same rule.
    const inProcess = await gateway.gateway.app.request('/v1/batch', {
      method: 'POST',
      headers: { authorization: `Bearer ${gateway.token}` },
      body: latin1('{"statements":[{"sql":"select \'caf@\'"}]}'),
    })
    expect(inProcess.status).toBe(400)
    expect(((await inProcess.json()) as any).error.code).toBe('BAD_REQUEST')
  })

  it('words an invalid body exactly as the in-process app does', async () => {
    const body = JSON.stringify({ sql: 'select 1', params: [{ nested: true }], timeoutMs: -1 })
    const overSocket = await send(body)
    const inProcess = await gateway.json('/v1/query', body)
    expect(overSocket.status).toBe(400)
    expect(overSocket.body).toEqual(inProcess.body)
  })
})

describe('quickQueryRequest', () => {
  const valid = [
    { sql: 'select 1' },
    { sql: '', params: [] },
    { sql: 'select $1, $2, $3, $4', params: ['a', 1.5, true, null] },
    { sql: 'select 1', timeoutMs: 1 },
    { sql: 'select 1', timeoutMs: 86_400_000, extra: 'dropped' },
  ]
  const invalid = [
    null,
    [],
    'select 1',
    {},
    { sql: 1 },
    { sql: 'select 1', params: 'a' },
    { sql: 'select 1', params: [{}] },
    { sql: 'select 1', params: [[1]] },
    { sql: 'select 1', params: null },
    { sql: 'select 1', timeoutMs: 0 },
    { sql: 'select 1', timeoutMs: 1.5 },
    { sql: 'select 1', timeoutMs: 86_400_001 },
    { sql: 'select 1', timeoutMs: '5' },
    { sql: 'select 1', timeoutMs: null },
  ]

  it('returns what the zod schema returns for plainly valid bodies', () => {
    for (const body of valid)
      expect(quickQueryRequest(body)).toEqual(queryRequestSchema.parse(body))
  })

  it('leaves every body the zod schema refuses to the schema', () => {
    for (const body of invalid) {
      expect(queryRequestSchema.safeParse(body).success).toBe(false)
      expect(quickQueryRequest(body)).toBeUndefined()
    }
  })
})
