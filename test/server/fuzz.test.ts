/**
 * A seeded fuzz of every route over a listening gateway: thousands of requests, well formed
 * and hostile (wrong types, deep nesting, NUL bytes, broken JSON and UTF-8, wrong parameter
 * counts, transaction control, garbage tokens and ids, unknown routes and methods). Every
 * answer must be a documented status with the protocol's error body, never a 500 or a hang,
 * no bug may be reported, and at the end the pool is idle and every session clean.
 * `FUZZ_SEED=n` replays another mix; `FUZZ_REQUESTS=n` runs more.
 */
import type { Server } from 'node:http'
import { request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ERROR_STATUS } from '../../src/errors.js'
import {
  admin,
  backends,
  eventually,
  newToken,
  serveGateway,
  startTestGateway,
  type TestGateway,
} from '../helpers/gateway.js'

const SEED = Number(process.env.FUZZ_SEED ?? 20261128)
const REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 2500)
const CONCURRENCY = 24
const ANSWER_WITHIN_MS = 20_000

// mulberry32: small, seeded, good enough to pick.
function prng(seed: number) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

const rand = prng(SEED)
const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!
const chance = (p: number) => rand() < p

const SQL = [
  'select 1',
  'select $1::int as n',
  'select $1::text, $2::text',
  "select 'a;b' as s",
  'select pg_sleep(0.02)',
  'select * from fuzz_t where id = $1',
  'insert into fuzz_t (id, v) values ($1, $2) on conflict do nothing',
  'update fuzz_t set v = $1 where id = 1',
  'delete from fuzz_t where id > 1000',
  'select * from nope',
  'selec 1',
  'select 1; select 2',
  '',
  '   -- only a comment',
  'begin',
  'commit',
  'rollback',
  'savepoint a',
  'rollback to savepoint a',
  'copy fuzz_t from stdin',
  'copy (select 1) to stdout',
  "select set_config('statement_timeout', '1', false)",
  'select pg_advisory_lock(4242)',
  'create temp table fuzz_tmp (x int)',
  'listen fuzz',
  "do $$ begin perform set_config('TimeZone', 'Asia/Tokyo', false); end $$",
  'select 1 / 0',
  'select repeat($1, 1000)',
  'select generate_series(1, 2000)',
  'select $1::jsonb',
  "select E'\\\\x00'::bytea",
  'select 1\u0000',
  'select now()',
  'prepare fuzz_p as select 1',
  'select * from generate_series(1, 10) g where g = $3',
]

function jsonValue(depth = 0): unknown {
  if (depth > 3 || chance(0.4))
    return pick([
      null,
      true,
      false,
      0,
      -1,
      1.5,
      1e308,
      Number.MAX_SAFE_INTEGER,
      '',
      'x',
      '\u0000',
      '\ud800',
      'é💥',
      '1',
      'x'.repeat(2000),
    ])
  return chance(0.5)
    ? Array.from({ length: Math.floor(rand() * 4) }, () => jsonValue(depth + 1))
    : Object.fromEntries(
        Array.from({ length: Math.floor(rand() * 4) }, (_, i) => [
          pick(['sql', 'params', 'timeoutMs', 'x', `k${i}`]),
          jsonValue(depth + 1),
        ]),
      )
}

/**
 * A body whose one parameter is nested `levels` deep, written out (serialising such a value
 * could overflow), in `/v1` or Neon's shape.
 */
function nested(levels: number, neon = false): string {
  const open = chance(0.5) ? '[' : '{"a":'
  const close = open === '[' ? ']' : '}'
  const value = `${open.repeat(levels)}1${close.repeat(levels)}`
  return neon
    ? `{"query":"select $1::jsonb","params":[${value}]}`
    : `{"sql":"select $1::jsonb","params":[${value}]}`
}

function params(sql: string): unknown {
  if (chance(0.1)) return jsonValue()
  // Often exactly as many as the statement uses, so it runs; otherwise anything.
  const wanted = Math.max(0, ...[...sql.matchAll(/\$(\d+)/g)].map((m) => Number(m[1])))
  if (chance(0.6)) return Array.from({ length: wanted }, () => pick(['1', '2', 'x', '42']))
  return Array.from({ length: Math.floor(rand() * 4) }, () =>
    pick<unknown>(['1', 2, true, null, 'x', '\u0000', [1], { a: 1 }, 1.5, '9'.repeat(40)]),
  )
}

function statement(): unknown {
  if (chance(0.05)) return jsonValue()
  const sql = pick(SQL)
  const body: Record<string, unknown> = { sql }
  if (chance(0.8)) body.params = params(sql)
  if (chance(0.2)) body.timeoutMs = pick<unknown>([1, 50, 1000, 0, -5, 1.5, 'x', 1e12])
  if (chance(0.1)) body.rowMode = pick<unknown>(['array', 'object', 'columns', 1])
  if (chance(0.05)) body.sql = pick<unknown>([1, null, [], {}])
  return body
}

interface Fuzzed {
  method: string
  path: string
  headers: Record<string, string>
  body?: string | Buffer
}

describe('fuzzing every route', () => {
  let t: TestGateway
  let server: Server
  let port: number
  const adminToken = newToken()
  const bugs: unknown[] = []
  const openTransactions: string[] = []

  beforeAll(async () => {
    await admin('create table if not exists fuzz_t (id int primary key, v text)')
    await admin("insert into fuzz_t values (1, 'one') on conflict do nothing")
    t = await startTestGateway(
      {
        pool: { min: 2, max: 6, acquireTimeoutMs: 2_000, maxWaiting: 40 },
        statementTimeoutMs: 3_000,
        maxRows: 1_000,
        maxResultBytes: 200_000,
        transactions: { idleTimeoutMs: 300, maxOpenShare: 0.5 },
      },
      {
        server: { adminToken, bodyLimitBytes: 64 * 1024 },
        reportBug: (error) => bugs.push(error),
      },
    )
    server = serveGateway(t.gateway)
    await new Promise((resolve) => server.once('listening', resolve))
    port = (server.address() as AddressInfo).port
  })
  afterAll(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
    await t.close()
    await admin('drop table if exists fuzz_t')
  })

  // Mostly tokens that get in, so most requests reach the engine; the rest try the door.
  function token(): string | undefined {
    if (chance(0.85)) return chance(0.7) ? t.token : t.readonlyToken
    return pick([adminToken, undefined, 'garbage', newToken()])
  }

  function fuzzed(): Fuzzed {
    const auth = token()
    const headers: Record<string, string> = {}
    if (auth !== undefined)
      headers.authorization = chance(0.9)
        ? `Bearer ${auth}`
        : pick([`bearer  ${auth}`, auth, `Basic ${auth}`])
    if (chance(0.2)) headers['content-type'] = pick(['text/plain', 'application/json', 'x/y'])
    if (chance(0.15))
      headers.accept = pick([
        'application/x-ndjson',
        'application/x-sluice-copy-text',
        'application/x-sluice-copy-text;q=0.3, application/x-ndjson',
      ])
    if (chance(0.05)) headers['x-request-id'] = pick(['fuzz-1', 'bad id!', 'x'.repeat(300)])
    const json = (value: unknown) => JSON.stringify(value)
    const tx = () =>
      openTransactions.length > 0 && chance(0.8) ? pick(openTransactions) : newToken()
    const route = rand()
    if (route < 0.35) {
      const body = chance(0.05) ? nested(pick([60, 70, 500, 5000])) : json(statement())
      return { method: 'POST', path: '/v1/query', headers, body }
    }
    if (route < 0.45) {
      const statements = chance(0.1)
        ? jsonValue()
        : Array.from({ length: Math.floor(rand() * 4) }, statement)
      const body: Record<string, unknown> = { statements }
      if (chance(0.3))
        body.isolation = pick<unknown>(['serializable', 'read committed', 'bogus', 1])
      if (chance(0.2)) body.readOnly = pick<unknown>([true, false, 'yes'])
      return { method: 'POST', path: '/v1/batch', headers, body: json(body) }
    }
    if (route < 0.55) {
      const body = chance(0.3) ? '' : json(chance(0.2) ? jsonValue() : { idleTimeoutMs: 300 })
      return { method: 'POST', path: '/v1/transactions', headers, body }
    }
    if (route < 0.7) {
      const action = pick(['query', 'query', 'query', 'commit', 'rollback', 'bogus'])
      const body = action === 'query' ? json(statement()) : '{}'
      return { method: 'POST', path: `/v1/transactions/${tx()}/${action}`, headers, body }
    }
    if (route < 0.8) {
      if (chance(0.05))
        return { method: 'POST', path: '/sql', headers, body: nested(pick([70, 5000]), true) }
      const query = pick(SQL)
      const one = { query, params: chance(0.7) ? params(query) : undefined }
      const body = chance(0.3) ? { queries: [one, one] } : chance(0.1) ? jsonValue() : one
      if (chance(0.3)) headers['neon-array-mode'] = 'true'
      if (chance(0.2)) headers['neon-batch-isolation-level'] = pick(['Serializable', 'Nope'])
      if (chance(0.3) && auth) {
        delete headers.authorization
        headers['neon-connection-string'] = pick([
          `postgresql://u:${auth}@h/db`,
          'not a url',
          'postgresql://u@h/db',
        ])
      }
      return { method: 'POST', path: '/sql', headers, body: json(body) }
    }
    if (route < 0.88) {
      const admin = pick([
        ['GET', '/admin/tenants'],
        ['GET', '/admin/tenants/main'],
        ['GET', '/admin/tenants/nope'],
        ['GET', '/admin/config'],
        ['POST', '/admin/reload'],
        ['POST', '/admin/tenants/nope/pause'],
        ['POST', '/admin/tenants/main/resume'],
        ['POST', `/admin/tenants/main/pause?waitMs=${pick(['x', '-1', '99999999999'])}`],
      ] as const)
      return { method: admin[0], path: admin[1], headers }
    }
    if (route < 0.92) {
      const body = pick([
        Buffer.from([0xff, 0xfe, 0x7b, 0x22]),
        Buffer.from('{"sql": "select 1"'),
        Buffer.from('{"sql":"select 1"}garbage'),
        Buffer.from('x'.repeat(70 * 1024)),
      ])
      return { method: 'POST', path: pick(['/v1/query', '/sql', '/v1/batch']), headers, body }
    }
    const path = pick(['/healthz', '/readyz', '/metrics', '/nope', '/v1', '/v1/query/x', '/v2'])
    return { method: pick(['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'HEAD']), path, headers }
  }

  function send(req: Fuzzed): Promise<{ status: number; text: string; type: string }> {
    return new Promise((resolve, reject) => {
      const outgoing = request(
        { host: '127.0.0.1', port, method: req.method, path: req.path, headers: req.headers },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (chunk: Buffer) => chunks.push(chunk))
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              text: Buffer.concat(chunks).toString('utf8'),
              type: String(res.headers['content-type'] ?? ''),
            }),
          )
          res.on('error', reject)
        },
      )
      outgoing.setTimeout(ANSWER_WITHIN_MS, () => {
        outgoing.destroy(new Error(`no answer within ${ANSWER_WITHIN_MS} ms`))
      })
      outgoing.on('error', reject)
      outgoing.end(req.body)
    })
  }

  /** What is wrong with an answer, or undefined when it is a documented one. */
  function problem(req: Fuzzed, answer: { status: number; text: string; type: string }) {
    const { status, text } = answer
    if (status === 500) return 'a 500'
    if (![200, 201, 400, 401, 403, 404, 409, 413, 429, 503, 504, 507].includes(status))
      return `status ${status}`
    if (req.method === 'HEAD' || status < 300) return undefined
    let body: any
    try {
      body = JSON.parse(text)
    } catch {
      return 'an error answer that is not JSON'
    }
    if (req.path === '/sql' && status !== 404) {
      if (typeof body.message !== 'string' || typeof body.code !== 'string')
        return 'a Neon error without message and code'
      if (!Object.hasOwn(ERROR_STATUS, body.sluiceCode))
        return `unknown sluiceCode ${body.sluiceCode}`
      return undefined
    }
    const code = body?.error?.code
    if (!Object.hasOwn(ERROR_STATUS, code)) return `unknown error code ${code}`
    if (ERROR_STATUS[code as keyof typeof ERROR_STATUS] !== status && !(req.path === '/readyz'))
      return `code ${code} with status ${status}`
    if (typeof body.error.message !== 'string' || typeof body.error.retryable !== 'boolean')
      return 'an error body without message or retryable'
    return undefined
  }

  it(`answers ${REQUESTS} hostile and ordinary requests with documented codes only (seed ${SEED})`, async () => {
    const problems: string[] = []
    const statuses = new Map<number, number>()
    let next = 0
    const worker = async () => {
      while (next < REQUESTS) {
        next++
        const req = fuzzed()
        const answer = await send(req).catch((error: Error) => ({
          status: -1,
          text: error.message,
          type: '',
        }))
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1)
        if (answer.status === -1) {
          problems.push(`${req.method} ${req.path}: ${answer.text}`)
          continue
        }
        const wrong = problem(req, answer)
        if (wrong)
          problems.push(
            `${req.method} ${req.path} ${String(req.body).slice(0, 120)}: ${wrong}: ${answer.text.slice(0, 200)}`,
          )
        if (req.path === '/v1/transactions' && answer.status === 201)
          openTransactions.push(JSON.parse(answer.text).id)
      }
    }
    await Promise.all(Array.from({ length: CONCURRENCY }, worker))
    expect(problems.slice(0, 10)).toEqual([])
    expect(bugs).toEqual([])
    // Every kind of answer showed up, so the mix reached past the front door.
    for (const status of [200, 201, 400, 401, 404, 413])
      expect(statuses.get(status) ?? 0).toBeGreaterThan(0)

    // Then the pool is idle and clean: nothing open, no lock, nothing left in a session.
    await eventually(() => t.gateway.transactions.count() === 0, 15_000)
    const pool = t.gateway.tenants.get('main')!.pool
    await eventually(() => pool.stats().poolInUse === 0 && pool.stats().requestsWaiting === 0)
    await eventually(async () =>
      (await backends(t.applicationName)).every((b) => b.state === 'idle'),
    )
    const locks = await admin(
      "select count(*)::int as n from pg_locks l join pg_stat_activity a using (pid) where a.application_name = $1 and l.locktype = 'advisory'",
      [t.applicationName],
    )
    expect(locks[0].n).toBe(0)
    const session = await t.json('/v1/query', {
      sql: "select current_setting('statement_timeout'), current_setting('TimeZone'), (select count(*) from pg_listening_channels())::text, (select count(*) from pg_prepared_statements where from_sql)::text",
    })
    expect(session.body.rows).toEqual([['3s', 'UTC', '0', '0']])
  }, 240_000)
})
