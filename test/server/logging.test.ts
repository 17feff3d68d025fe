import { Writable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ConfigInput } from '../../server/config/schema.js'
import { createLogger } from '../../server/log/logger.js'
import { sqlHash } from '../../server/log/request-recorder.js'
import {
  admin,
  backends,
  eventually,
  newToken,
  startTestGateway,
  type TestGateway,
} from '../helpers/gateway.js'

/** A pino destination that keeps every line, parsed, plus the raw text. */
function captureLogs() {
  const lines: Record<string, any>[] = []
  let raw = ''
  const stream = new Writable({
    write(chunk, _encoding, done) {
      raw += String(chunk)
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line))
      done()
    },
  })
  return { lines, stream, raw: () => raw }
}

async function loggedGateway(
  log: NonNullable<ConfigInput['server']>['log'],
  tenant: Parameters<typeof startTestGateway>[0] = {},
  extra: Parameters<typeof startTestGateway>[1] = {},
) {
  const logs = captureLogs()
  const logger = createLogger({ level: log?.level ?? 'debug' }, logs.stream)
  const t = await startTestGateway(tenant, { ...extra, logger, server: { log } })
  return { t, logs }
}

describe('request logs', () => {
  let t: TestGateway
  let logs: ReturnType<typeof captureLogs>
  beforeAll(async () => {
    ;({ t, logs } = await loggedGateway({ level: 'info' }))
  })
  afterAll(() => t.close())

  it('logs one line per request with request id, tenant, route, status, duration and error code', async () => {
    const ok = await t.post('/v1/query', { sql: 'select 1' })
    const failed = await t.post('/v1/query', { sql: 'select 1/0' })
    const okId = ok.headers.get('x-request-id')
    const failedId = failed.headers.get('x-request-id')
    const requests = logs.lines.filter((l) => l.msg === 'request')
    const okLine = requests.find((l) => l.requestId === okId)
    const failedLine = requests.find((l) => l.requestId === failedId)
    expect(okLine).toMatchObject({
      level: 'info',
      service: 'sluice',
      method: 'POST',
      route: '/v1/query',
      path: '/v1/query',
      status: 200,
      tenant: 'main',
      statements: 1,
    })
    expect(okLine!.errorCode).toBeUndefined()
    expect(typeof okLine!.durationMs).toBe('number')
    expect(typeof okLine!.time).toBe('string')
    expect(failedLine).toMatchObject({
      status: 400,
      errorCode: 'DATABASE_ERROR',
      tenant: 'main',
      route: '/v1/query',
    })
  })

  it('keeps a request id the client sent', async () => {
    await t.post('/v1/query', { sql: 'select 1' }, { headers: { 'X-Request-Id': 'client-id-42' } })
    expect(logs.lines.some((l) => l.msg === 'request' && l.requestId === 'client-id-42')).toBe(true)
  })

  it('logs an unauthenticated request without a tenant, and never the token', async () => {
    const wrong = newToken()
    const res = await t.post('/v1/query', { sql: 'select 1' }, { token: wrong })
    expect(res.status).toBe(401)
    const line = logs.lines.find(
      (l) => l.msg === 'request' && l.requestId === res.headers.get('x-request-id'),
    )
    expect(line).toMatchObject({ status: 401, errorCode: 'UNAUTHORIZED' })
    expect(line!.tenant).toBeUndefined()
    expect(logs.raw()).not.toContain(wrong)
    expect(logs.raw()).not.toContain(t.token)
  })

  it('logs no SQL text and no parameters by default', async () => {
    await t.post('/v1/query', { sql: "select 'sql-marker-1' as a, $1::text", params: ['param-x'] })
    expect(logs.raw()).not.toContain('sql-marker-1')
    expect(logs.raw()).not.toContain('param-x')
  })
})

describe('statement logs', () => {
  it('logs statements with their text and parameters only when configured', async () => {
    const { t, logs } = await loggedGateway({ level: 'debug', statements: 'text-and-params' })
    try {
      const res = await t.post('/v1/query', { sql: 'select $1::text as v', params: ['p-1'] })
      const line = logs.lines.find(
        (l) => l.msg === 'statement' && l.requestId === res.headers.get('x-request-id'),
      )
      expect(line).toMatchObject({
        level: 'debug',
        tenant: 'main',
        sql: 'select $1::text as v',
        params: ['p-1'],
        rowCount: 1,
        sqlHash: sqlHash('select $1::text as v'),
      })
    } finally {
      await t.close()
    }
  })

  it('logs the text without parameters with statements: text', async () => {
    const { t, logs } = await loggedGateway({ level: 'debug', statements: 'text' })
    try {
      await t.post('/v1/query', { sql: 'select $1::text as w', params: ['p-2'] })
      const line = logs.lines.find((l) => l.msg === 'statement')
      expect(line!.sql).toBe('select $1::text as w')
      expect(line!.params).toBeUndefined()
      expect(logs.raw()).not.toContain('p-2')
    } finally {
      await t.close()
    }
  })

  it('logs a statement slower than slowStatementMs at warn, with its hash but not its text', async () => {
    const { t, logs } = await loggedGateway({ level: 'info', slowStatementMs: 100 })
    try {
      const sql = 'select pg_sleep(0.3)'
      const res = await t.post('/v1/query', { sql })
      expect(res.status).toBe(200)
      const slow = logs.lines.filter((l) => l.msg === 'slow statement')
      const line = slow.find((l) => l.requestId === res.headers.get('x-request-id'))
      expect(line).toMatchObject({ level: 'warn', tenant: 'main', sqlHash: sqlHash(sql) })
      expect(line!.durationMs).toBeGreaterThanOrEqual(100)
      expect(line!.sql).toBeUndefined()
    } finally {
      await t.close()
    }
  })

  it('logs no slow statements when slowStatementMs is 0', async () => {
    const { t, logs } = await loggedGateway({ level: 'debug', slowStatementMs: 0 })
    try {
      await t.post('/v1/query', { sql: 'select pg_sleep(0.2)' })
      expect(logs.lines.some((l) => l.msg === 'request')).toBe(true)
      expect(logs.lines.some((l) => l.msg === 'slow statement')).toBe(false)
    } finally {
      await t.close()
    }
  })
})

describe('pool event logs', () => {
  it('logs connections opened at info and lost at warn, like psycopg.pool', async () => {
    const { t, logs } = await loggedGateway({ level: 'info' }, { pool: { min: 1 } })
    try {
      const opened = logs.lines.filter((l) => l.msg === 'connection opened')
      expect(opened).toHaveLength(1)
      expect(opened[0]).toMatchObject({ level: 'info', tenant: 'main' })
      const [backend] = await backends(t.applicationName)
      expect(opened[0]!.pid).toBe(backend!.pid)
      await admin('select pg_terminate_backend($1)', [backend!.pid])
      await eventually(() => logs.lines.some((l) => l.msg === 'connection lost'))
      expect(logs.lines.find((l) => l.msg === 'connection lost')).toMatchObject({
        level: 'warn',
        tenant: 'main',
        pid: backend!.pid,
      })
    } finally {
      await t.close()
    }
  })

  it('logs a failed connection at warn without the password', async () => {
    const { t, logs } = await loggedGateway(
      { level: 'info' },
      {},
      {
        extraTenants: {
          down: {
            connection: { url: 'postgres://app:log-secret-pw@127.0.0.1:1/app' },
            pool: { min: 1 },
            tokens: [{ token: newToken() }],
          },
        },
      },
    )
    try {
      const line = logs.lines.find((l) => l.msg === 'cannot connect to the database')
      expect(line).toMatchObject({ level: 'warn', tenant: 'down' })
      expect(typeof line!.error).toBe('string')
      expect(logs.raw()).not.toContain('log-secret-pw')
    } finally {
      await t.close()
    }
  })

  it('logs a pause at warn and a resume at info', async () => {
    const { t, logs } = await loggedGateway({ level: 'info' })
    try {
      await t.gateway.tenants.get('main')!.pool.pause()
      t.gateway.tenants.get('main')!.pool.resume()
      expect(logs.lines.find((l) => l.msg.startsWith('tenant paused'))).toMatchObject({
        level: 'warn',
        tenant: 'main',
      })
      expect(logs.lines.find((l) => l.msg === 'tenant resumed')).toMatchObject({ level: 'info' })
    } finally {
      await t.close()
    }
  })
})
