import { execFileSync } from 'node:child_process'
import { Agent, request } from 'node:http'
import { connect, type Socket } from 'node:net'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  admin,
  backends,
  databaseUrl,
  eventually,
  listenTestGateway,
  type ListeningGateway,
} from '../helpers/gateway.js'
import { copyTextRequest, streamRequest } from '../helpers/ndjson.js'

let t: ListeningGateway
let base: string

beforeAll(async () => {
  t = await listenTestGateway({
    pool: { min: 1, max: 3 },
    stream: { maxRows: 50_000 },
    maxResultBytes: 512 * 1024,
  })
  base = t.url
})

afterAll(() => t.close())

const stream = (body: unknown, path = '/v1/query', token = t.token) =>
  streamRequest(base + path, token, body)

/** The pool is back to its idle state with no backend still running a statement. */
async function poolSettles(): Promise<void> {
  await eventually(async () => {
    const stats = t.gateway.tenants.get('main')!.pool.stats()
    const active = (await backends(t.applicationName)).filter((b) => b.state !== 'idle')
    return stats.poolInUse === 0 && active.length === 0
  })
}

describe('streaming a result as NDJSON', () => {
  it('sends the fields, one line per row with the JSON answer’s values, then the command tag', async () => {
    const sql = 'select i, md5(i::text) as h, null::text as n from generate_series(1, 1000) i'
    const answer = await stream({ sql })
    expect(answer.status).toBe(200)
    expect(answer.contentType).toBe('application/x-ndjson')
    expect(answer.requestId).toBeTruthy()
    const json = (await t.json('/v1/query', { sql })).body
    expect(answer.lines.length).toBe(json.rows.length + 2)
    expect(answer.lines[0]).toEqual({ fields: json.fields })
    expect(answer.lines.slice(1, -1)).toEqual(json.rows)
    expect(answer.lines.at(-1)).toEqual({ command: 'SELECT', rowCount: 1000 })
  })

  it('encodes every kind of text exactly as the JSON answer does', async () => {
    // Quotes, backslashes, control characters, non-ASCII text, empty strings and NULLs, a
    // value that spans several socket reads, and a column name that needs escaping.
    const sql = `select E'say "hi"\\\\there' as "q""uote", E'tab\\tnew\\nline\\x01' as ctl,
      'a "quoted" word' as quoted, 'héllo wörld ✓ 漢字 😀' as unicode, '' as empty, null::text as nothing,
      repeat('ab', 60000) as long, n from generate_series(1, 3) n`
    const json = (await t.json('/v1/query', { sql }, undefined)).body
    const viaSocket = await fetch(`${base}/v1/query`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${t.token}` },
      body: JSON.stringify({ sql }),
    })
    expect(await viaSocket.json()).toEqual(json)
    const answer = await stream({ sql })
    expect(answer.lines.slice(1, -1)).toEqual(json.rows)
    const objects = await stream({ sql, rowMode: 'object' })
    const names = json.fields.map((f: { name: string }) => f.name)
    expect(names[0]).toBe('q"uote')
    expect(objects.lines.slice(1, -1)).toEqual(
      json.rows.map((row: unknown[]) => Object.fromEntries(row.map((v, i) => [names[i], v]))),
    )
  })

  it('prints rows as objects keyed by column name with rowMode "object"', async () => {
    const answer = await stream({
      sql: 'select $1::int4 as a, $2::text as "b c"',
      params: ['1', 'x'],
      rowMode: 'object',
    })
    expect(answer.lines.slice(1)).toEqual([
      { a: '1', 'b c': 'x' },
      { command: 'SELECT', rowCount: 1 },
    ])
  })

  it('refuses an unknown rowMode with BAD_REQUEST, naming the field', async () => {
    const answer = await stream({ sql: 'select 1', rowMode: 'columns' })
    expect(answer.status).toBe(400)
    expect(answer.lines[0].error.code).toBe('BAD_REQUEST')
    expect(answer.lines[0].error.message).toContain('rowMode')
  })

  it('ends a statement without rows with its command tag, after an empty fields line', async () => {
    await admin('create table if not exists stream_probe (id int)')
    const answer = await stream({ sql: 'insert into stream_probe values (1), (2)' })
    expect(answer.lines).toEqual([{ fields: [] }, { command: 'INSERT', rowCount: 2 }])
  })

  it('answers an ordinary error when the statement fails before its first row', async () => {
    const answer = await stream({ sql: 'select * from no_such_table' })
    expect(answer.status).toBe(400)
    expect(answer.contentType).toContain('application/json')
    expect(answer.lines[0].error).toMatchObject({ code: 'DATABASE_ERROR', sqlstate: '42P01' })
  })

  it('ends with an error line when the statement fails mid-way, and the connection stays clean', async () => {
    const answer = await stream({
      sql: 'select case when i = 3000 then 1 / (i - i) else i end as v from generate_series(1, 5000) i',
    })
    expect(answer.status).toBe(200)
    const last = answer.lines.at(-1)
    expect(last.error).toMatchObject({ code: 'DATABASE_ERROR', sqlstate: '22012' })
    expect(answer.lines.length).toBeGreaterThan(2)
    expect(answer.lines.length).toBeLessThan(3002)
    await poolSettles()
    const after = await stream({ sql: 'select 1 as one' })
    expect(after.lines.at(-1)).toEqual({ command: 'SELECT', rowCount: 1 })
  })

  it('ends with RESULT_TOO_LARGE past stream.maxRows', async () => {
    const answer = await stream({ sql: 'select i from generate_series(1, 1000000) i' })
    expect(answer.status).toBe(200)
    expect(answer.lines.at(-1).error).toMatchObject({ code: 'RESULT_TOO_LARGE' })
    expect(answer.lines.at(-1).error.message).toContain('stream.maxRows')
    // Refused at the header of row 50,001: never more rows than the limit.
    expect(answer.lines.length - 2).toBeLessThanOrEqual(50_000)
    await poolSettles()
  })

  it('streams far more than maxResultBytes, but refuses a single row over it', async () => {
    const big = await stream({ sql: "select repeat('x', 1000) from generate_series(1, 1000)" })
    expect(big.lines.at(-1)).toEqual({ command: 'SELECT', rowCount: 1000 })
    const answer = await stream({ sql: "select repeat('x', 600 * 1024)" })
    expect(answer.status).toBe(413)
    expect(answer.lines[0].error.code).toBe('RESULT_TOO_LARGE')
  })

  it('ends with STATEMENT_TIMEOUT when the statement outlives its timeout', async () => {
    const answer = await stream({
      // PostgreSQL sends its output in 8 kB buffers: the first rows must fill one.
      sql: "select repeat('x', 1000), pg_sleep(case when i > 20 then 0.2 else 0 end) from generate_series(1, 100) i",
      timeoutMs: 500,
    })
    expect(answer.status).toBe(200)
    expect(answer.lines.at(-1).error).toMatchObject({ code: 'STATEMENT_TIMEOUT' })
    await poolSettles()
  })

  it('runs a readonly token’s stream read-only', async () => {
    const read = await stream({ sql: 'select 1 as n' }, '/v1/query', t.readonlyToken)
    expect(read.lines.at(-1)).toEqual({ command: 'SELECT', rowCount: 1 })
    const write = await stream(
      { sql: 'insert into stream_probe values (3) returning id' },
      '/v1/query',
      t.readonlyToken,
    )
    expect(write.status).toBe(403)
    expect(write.lines[0].error).toMatchObject({ code: 'FORBIDDEN', sqlstate: '25006' })
  })

  it('streams inside an interactive transaction, which sees its own writes', async () => {
    await admin('create table if not exists stream_tx (id int)')
    await admin('truncate stream_tx')
    const { body: tx } = await t.json('/v1/transactions', {})
    await t.json(`/v1/transactions/${tx.id}/query`, {
      sql: 'insert into stream_tx select generate_series(1, 3000)',
    })
    const answer = await stream(
      { sql: 'select id from stream_tx order by id' },
      `/v1/transactions/${tx.id}/query`,
    )
    expect(answer.status).toBe(200)
    expect(answer.lines.length).toBe(3002)
    expect(answer.lines[1]).toEqual(['1'])
    expect(answer.lines.at(-1)).toEqual({ command: 'SELECT', rowCount: 3000 })
    expect((await t.json(`/v1/transactions/${tx.id}/commit`, {})).body).toEqual({ committed: true })
    expect(await admin('select count(*)::int as n from stream_tx')).toEqual([{ n: 3000 }])
  })

  it('streams through the in-process app too (a web stream)', async () => {
    const answer = await streamRequest(
      'http://in-process/v1/query',
      t.token,
      {
        sql: 'select generate_series(1, 3000) as n',
      },
      { fetch: (url, init) => t.gateway.app.request(url, init) },
    )
    expect(answer.lines.length).toBe(3002)
    expect(answer.lines.at(-1)).toEqual({ command: 'SELECT', rowCount: 3000 })
  })
})

describe('streaming a result as COPY text', () => {
  const copy = (body: unknown, path = '/v1/query', accept?: string) =>
    copyTextRequest(base + path, t.token, body, accept)

  it('sends the same values as the JSON answer, escaped as COPY text, between JSON lines', async () => {
    // Every byte COPY text escapes (backslash, tab, newline, carriage return), text that
    // looks like an escape or like the JSON lines, NULLs and empty strings, non-ASCII text,
    // and a value that spans several socket reads.
    const sql = `select E'a\\\\b\\tc\\nd\\re' as escapes, '\\N' as not_null, null::text as nothing,
      '' as empty, '\\{"fields":[]}' as fake_line, '{"a": 1}'::jsonb as doc, '{1,2}'::int[] as arr,
      'héllo ✓ 漢字 😀' as unicode, repeat('ab', 60000) as long, n from generate_series(1, 3) n`
    const json = (await t.json('/v1/query', { sql })).body
    const answer = await copy({ sql })
    expect(answer.status).toBe(200)
    expect(answer.contentType).toBe('application/x-sluice-copy-text')
    expect(answer.lines[0]).toEqual({ fields: json.fields })
    expect(answer.lines.slice(1, -1)).toEqual(json.rows)
    expect(answer.lines.at(-1)).toEqual({ command: 'SELECT', rowCount: 3 })
    // Escaped as PostgreSQL's own COPY escapes them, row lines never begin with `\{`.
    const rowLines = answer.text.split('\n').slice(1, -2)
    expect(rowLines[0]!.split('\t').slice(0, 5)).toEqual([
      'a\\\\b\\tc\\nd\\re',
      '\\\\N',
      '\\N',
      '',
      '\\\\{"fields":[]}',
    ])
    expect(rowLines.every((line) => !line.startsWith('\\{'))).toBe(true)
  })

  it('matches COPY TO STDOUT byte for byte on every row line', async () => {
    const sql = `select i, md5(i::text), case when i % 3 = 0 then null else E'x\\\\y\\tz' end,
      now()::date from generate_series(1, 500) i`
    const answer = await copy({ sql })
    // What PostgreSQL's own COPY prints for the same query.
    const copied = execFileSync('psql', [databaseUrl(), '-Atc', `copy (${sql}) to stdout`], {
      encoding: 'utf8',
    })
    expect(answer.text.split('\n').slice(1, -2).join('\n') + '\n').toBe(copied)
  })

  it('sends a row line per row of a result without columns, and none for a statement without rows', async () => {
    const empty = await copy({ sql: 'select from generate_series(1, 3)' })
    expect(empty.text.split('\n').slice(1, -2)).toEqual(['', '', ''])
    expect(empty.lines.at(-1)).toEqual({ command: 'SELECT', rowCount: 3 })
    await admin('create table if not exists stream_probe (id int)')
    const insert = await copy({ sql: 'insert into stream_probe values (1), (2)' })
    expect(insert.lines).toEqual([{ fields: [] }, { command: 'INSERT', rowCount: 2 }])
  })

  it('picks the format the Accept header prefers, by q and then by order', async () => {
    const both = 'application/x-sluice-copy-text, application/x-ndjson;q=0.5'
    expect((await copy({ sql: 'select 1' }, '/v1/query', both)).contentType).toBe(
      'application/x-sluice-copy-text',
    )
    const ndjsonFirst = 'application/x-ndjson, application/x-sluice-copy-text'
    expect((await copy({ sql: 'select 1' }, '/v1/query', ndjsonFirst)).contentType).toBe(
      'application/x-ndjson',
    )
    const ndjsonPreferred = 'application/x-sluice-copy-text;q=0.2, application/x-ndjson'
    expect((await copy({ sql: 'select 1' }, '/v1/query', ndjsonPreferred)).contentType).toBe(
      'application/x-ndjson',
    )
    const refused = 'application/x-sluice-copy-text;q=0, application/json'
    expect((await copy({ sql: 'select 1' }, '/v1/query', refused)).contentType).toContain(
      'application/json',
    )
  })

  it('reads media types in any case, as HTTP defines them', async () => {
    const tx = (await t.json('/v1/transactions', {})).body
    const upper = 'Application/X-Sluice-Copy-Text, APPLICATION/X-NDJSON;Q=0.5'
    for (const path of ['/v1/query', `/v1/transactions/${tx.id}/query`]) {
      expect((await copy({ sql: 'select 1' }, path, upper)).contentType).toBe(
        'application/x-sluice-copy-text',
      )
    }
    await t.json(`/v1/transactions/${tx.id}/rollback`, {})
  })

  it('refuses rows as objects with BAD_REQUEST before borrowing a connection', async () => {
    const before = t.gateway.tenants.get('main')!.pool.stats().requestsNum
    const answer = await copy({ sql: 'select 1 as a', rowMode: 'object' })
    expect(answer.status).toBe(400)
    expect(answer.lines[0].error.code).toBe('BAD_REQUEST')
    expect(answer.lines[0].error.message).toContain('rowMode')
    expect(t.gateway.tenants.get('main')!.pool.stats().requestsNum).toBe(before)
  })

  it('ends with an error line when the statement fails mid-way, and the connection stays clean', async () => {
    const answer = await copy({
      sql: 'select case when i = 3000 then 1 / (i - i) else i end as v from generate_series(1, 5000) i',
    })
    expect(answer.status).toBe(200)
    expect(answer.lines.at(-1).error).toMatchObject({ code: 'DATABASE_ERROR', sqlstate: '22012' })
    expect(answer.text.endsWith('\n')).toBe(true)
    expect(answer.lines.length).toBeGreaterThan(2)
    await poolSettles()
  })

  it('streams inside an interactive transaction', async () => {
    const { body: tx } = await t.json('/v1/transactions', {})
    const answer = await copy(
      { sql: "select i, E'tab\there' from generate_series(1, 2000) i" },
      `/v1/transactions/${tx.id}/query`,
    )
    expect(answer.lines.length).toBe(2002)
    expect(answer.lines[1]).toEqual(['1', 'tab\there'])
    expect(answer.lines.at(-1)).toEqual({ command: 'SELECT', rowCount: 2000 })
    expect((await t.json(`/v1/transactions/${tx.id}/commit`, {})).body).toEqual({ committed: true })
  })
})

describe('a streaming client that goes away', () => {
  /** Sends a raw streaming request and reads until `bytes` arrived. */
  function readSome(sql: string, bytes: number): Promise<Socket> {
    const body = JSON.stringify({ sql })
    const port = Number(new URL(t.url).port)
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1')
      let seen = 0
      socket.on('data', (chunk: Buffer) => {
        seen += chunk.length
        if (seen >= bytes) {
          socket.pause()
          resolve(socket)
        }
      })
      socket.once('error', reject)
      socket.write(
        `POST /v1/query HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t.token}\r\n` +
          `Accept: application/x-ndjson\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      )
    })
  }

  it('cancels its statement in PostgreSQL, and the pool comes back clean', async () => {
    // 40 MB, far more than the sockets' buffers hold. A set-returning function in the select
    // list streams its rows (in FROM it would gather them all first).
    const socket = await readSome(
      "select n, repeat('x', 1000) from (select generate_series(1, 40000) as n) s",
      200_000,
    )
    // While nobody reads, the statement waits on its socket: paused, not buffered.
    await eventually(async () => {
      const rows = await admin(
        "select wait_event from pg_stat_activity where application_name = $1 and state = 'active'",
        [t.applicationName],
      )
      return rows.some((r) => r.wait_event === 'ClientWrite')
    })
    socket.destroy()
    await poolSettles()
    expect((await stream({ sql: 'select 1 as n' })).lines.at(-1)).toEqual({
      command: 'SELECT',
      rowCount: 1,
    })
  })
})

describe('a stream answered during the drain', () => {
  const agent = new Agent({ keepAlive: true })
  afterAll(() => agent.destroy())

  /** Streams `body` from `path` on a keep-alive socket: the answer's headers and text. */
  function streamed(url: string, path: string, token: string, body: unknown) {
    return new Promise<{ connection: string | undefined; text: string }>((resolve, reject) => {
      const req = request(`${url}${path}`, {
        method: 'POST',
        agent,
        headers: { authorization: `Bearer ${token}`, accept: 'application/x-ndjson' },
      })
      req.once('response', (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => (text += chunk))
        res.once('end', () => resolve({ connection: res.headers.connection, text }))
      })
      req.once('error', reject)
      req.end(JSON.stringify(body))
    })
  }

  it('closes its connection, as every answer then does, on both paths', async () => {
    const g = await listenTestGateway({ pool: { min: 0, max: 3 } })
    // Holds the lock the first stream waits for, so its first row comes after the drain began.
    const holder = new pg.Client({ connectionString: databaseUrl() })
    await holder.connect()
    try {
      const tx = (await g.json('/v1/transactions', {})).body
      await holder.query('select pg_advisory_lock(7101)')
      const early = streamed(g.url, '/v1/query', g.token, {
        sql: 'select n from pg_advisory_xact_lock_shared(7101), generate_series(1, 3) n',
      })
      await eventually(async () => {
        const waiting = await admin(
          "select 1 from pg_stat_activity where application_name = $1 and wait_event_type = 'Lock'",
          [g.applicationName],
        )
        return waiting.length === 1
      })
      g.gateway.drain()
      await holder.query('select pg_advisory_unlock(7101)')
      const inTransaction = streamed(g.url, `/v1/transactions/${tx.id}/query`, g.token, {
        sql: 'select 1 as n',
      })
      for (const answer of await Promise.all([early, inTransaction])) {
        expect(answer.text).toMatch(/"command":"SELECT"/)
        expect(answer.connection).toBe('close')
      }
    } finally {
      await holder.end()
      await g.close()
    }
  })
})
