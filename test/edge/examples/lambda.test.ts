import { execFile } from 'node:child_process'
import { stat } from 'node:fs/promises'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createHandler,
  handler as lambdaHandler,
  type ApiGatewayEvent,
} from '../../../edge/examples/lambda.js'
import { listenTestGateway, type ListeningGateway } from '../../helpers/gateway.js'
import { cleanEnv, root } from '../../helpers/cli.js'

const run = promisify(execFile)

// The Lambda handler invoked as API Gateway would, against a real gateway over HTTP.
describe('the example Lambda handler', () => {
  let t: ListeningGateway
  let handler: ReturnType<typeof createHandler>

  beforeAll(async () => {
    t = await listenTestGateway()
    handler = createHandler({ url: t.url, token: t.token })
  })
  afterAll(() => t.close())

  /** An HTTP API (payload 2.0) event. */
  function httpApiEvent(method: string, path: string, body?: unknown): ApiGatewayEvent {
    return {
      rawPath: path,
      rawQueryString: '',
      requestContext: { http: { method } },
      headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body), isBase64Encoded: false }),
    }
  }

  it('answers GET / from PostgreSQL (HTTP API event)', async () => {
    const result = await handler(httpApiEvent('GET', '/'))
    expect(result.statusCode).toBe(200)
    expect(result.headers['content-type']).toBe('application/json')
    const { now, version } = JSON.parse(result.body)
    expect(version).toMatch(/^\d+/)
    expect(new Date(now).getTime()).not.toBeNaN()
  })

  it('runs a query from a REST API (payload 1.0) event with a base64 body', async () => {
    const body = JSON.stringify({
      sql: 'select $1::int8 * 2 as n, $2::text as s',
      params: ['21', 'λ'],
    })
    const result = await handler({
      httpMethod: 'POST',
      path: '/query',
      headers: { Authorization: `Bearer ${t.token}` },
      body: Buffer.from(body).toString('base64'),
      isBase64Encoded: true,
    })
    expect(result.statusCode).toBe(200)
    expect(JSON.parse(result.body)).toEqual({
      command: 'SELECT',
      rowCount: 1,
      rows: [{ n: '42', s: 'λ' }],
    })
  })

  it('answers a database error with its status, code and SQLSTATE', async () => {
    const result = await handler(httpApiEvent('POST', '/query', { sql: 'select 1/0' }))
    expect(result.statusCode).toBe(400)
    expect(JSON.parse(result.body)).toMatchObject({
      error: { code: 'DATABASE_ERROR', sqlstate: '22012' },
    })
  })

  it('runs a transaction batch through the gateway', async () => {
    const result = await handler(
      httpApiEvent('POST', '/transaction', {
        statements: [
          { sql: 'create temp table lambda_t (n int) on commit drop' },
          { sql: 'insert into lambda_t select generate_series(1, $1::int)', params: [3] },
          { sql: 'select sum(n)::int4 as total from lambda_t' },
        ],
      }),
    )
    expect(result.statusCode).toBe(200)
    const { results } = JSON.parse(result.body)
    expect(results.map((r: any) => r.command)).toEqual(['CREATE', 'INSERT', 'SELECT'])
    expect(results[2].rows).toEqual([{ total: 6 }])
  })

  it('reads SLUICE_URL and SLUICE_TOKEN from the environment in the exported handler', async () => {
    process.env.SLUICE_URL = t.url
    process.env.SLUICE_TOKEN = t.token
    try {
      const result = await lambdaHandler(
        httpApiEvent('POST', '/query', { sql: 'select current_user = session_user as same' }),
      )
      expect(result.statusCode).toBe(200)
      expect(JSON.parse(result.body).rows).toEqual([{ same: true }])
    } finally {
      delete process.env.SLUICE_URL
      delete process.env.SLUICE_TOKEN
    }
  })

  it('answers NOT_CONFIGURED, not a TypeError, when SLUICE_URL or SLUICE_TOKEN is missing', async () => {
    const saved = { url: process.env.SLUICE_URL, token: process.env.SLUICE_TOKEN }
    delete process.env.SLUICE_URL
    process.env.SLUICE_TOKEN = t.token
    try {
      const result = await lambdaHandler(httpApiEvent('GET', '/'))
      expect(result.statusCode).toBe(500)
      expect(JSON.parse(result.body)).toEqual({
        error: {
          code: 'NOT_CONFIGURED',
          message: "set SLUICE_URL and SLUICE_TOKEN in the function's environment variables",
        },
      })
    } finally {
      if (saved.token === undefined) delete process.env.SLUICE_TOKEN
      else process.env.SLUICE_TOKEN = saved.token
      if (saved.url !== undefined) process.env.SLUICE_URL = saved.url
    }
  })

  describe('bundled by npm run build:lambda', () => {
    const bundle = `${root}dist/lambda/lambda.mjs`

    beforeAll(async () => {
      await run('npm', ['run', '--silent', 'build:lambda'], { cwd: root })
    }, 60_000)

    /** Invokes the bundle's `handler` in a fresh Node process, as Lambda's runtime would. */
    async function invoke(event: ApiGatewayEvent, env: Record<string, string | undefined>) {
      const script = `import(${JSON.stringify(bundle)}).then((m) => m.handler(${JSON.stringify(event)})).then((r) => process.stdout.write(JSON.stringify(r)))`
      const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
        cwd: '/',
        env: cleanEnv({ SLUICE_URL: undefined, SLUICE_TOKEN: undefined, ...env }),
      })
      return JSON.parse(stdout)
    }

    it('is one self-contained .mjs file', async () => {
      expect((await stat(bundle)).isFile()).toBe(true)
    })

    it('answers NOT_CONFIGURED without its environment, and queries with it', async () => {
      const event = httpApiEvent('POST', '/query', { sql: 'select 6 * 7 as answer' })
      const unset = await invoke(event, {})
      expect(unset.statusCode).toBe(500)
      expect(JSON.parse(unset.body).error.code).toBe('NOT_CONFIGURED')
      const configured = await invoke(event, { SLUICE_URL: t.url, SLUICE_TOKEN: t.token })
      expect(configured.statusCode, configured.body).toBe(200)
      expect(JSON.parse(configured.body).rows).toEqual([{ answer: 42 }])
    })
  })
})
