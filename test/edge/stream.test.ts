import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest'
import { z } from 'zod'
import {
  createClient,
  isClientError,
  isDatabaseError,
  isGatewayError,
  sql,
  type ClientOptions,
  type RowStream,
  type StreamingClient,
} from '../../edge/streaming.js'
import { caught } from '../helpers/caught.js'
import {
  admin,
  eventually,
  listenTestGateway,
  startTestGateway,
  type TestGateway,
} from '../helpers/gateway.js'

async function all<Row>(stream: RowStream<Row>): Promise<Row[]> {
  const rows: Row[] = []
  for await (const row of stream) rows.push(row)
  return rows
}

// One contract, two transports, as for query: the in-process app and a listening gateway.
const transports: Record<string, () => Promise<{ t: TestGateway; options: ClientOptions }>> = {
  'in-process app': async () => {
    const t = await startTestGateway({ pool: { min: 1, max: 3 } })
    const fetch = async (url: string, init: RequestInit) => t.gateway.app.request(url, init)
    return { t, options: { url: 'http://gateway.test', token: t.token, fetch } }
  },
  'listening gateway': async () => {
    const t = await listenTestGateway({ pool: { min: 1, max: 3 } })
    return { t, options: { url: t.url, token: t.token } }
  },
}

describe.each(Object.keys(transports))('db.stream over the %s', (transport) => {
  let t: TestGateway
  let db: StreamingClient
  let options: ClientOptions

  beforeAll(async () => {
    const made = await transports[transport]!()
    t = made.t
    options = made.options
    db = createClient(made.options)
  })

  /** A client whose requests go through `change` (headers) and whose answers are seen. */
  const clientVia = (change: (headers: Headers) => void, seen: Response[] = []) =>
    createClient({
      ...options,
      fetch: async (url: string, init: RequestInit) => {
        const headers = new Headers(init.headers)
        change(headers)
        const response = await (options.fetch ?? fetch)(url, { ...init, headers })
        seen.push(response)
        return response
      },
    })
  afterAll(() => t.close())

  /** Nothing of this gateway still runs in PostgreSQL, and the pool lends nothing. */
  const settled = () =>
    eventually(async () => {
      const active = await admin(
        "select 1 from pg_stat_activity where application_name = $1 and state <> 'idle'",
        [t.applicationName],
      )
      return active.length === 0 && t.gateway.tenants.get('main')!.pool.stats().poolInUse === 0
    })

  it('yields rows parsed with the same codecs as query, then knows the command tag', async () => {
    const text = `select n, n::int8 as big, ('2026-01-01'::date + n) as day, array[n, n + 1] as pair,
      jsonb_build_object('n', n) as doc from (select generate_series(1, 5000) as n) s`
    const stream = db.stream(text)
    const rows = await all(stream)
    const { rows: buffered } = await db.query(text)
    expect(rows).toEqual(buffered)
    expect(rows[0]).toEqual({
      n: 1,
      big: '1',
      day: new Date('2026-01-02T00:00:00.000Z'),
      pair: [1, 2],
      doc: { n: 1 },
    })
    expect(stream.fields!.map((f) => f.name)).toEqual(['n', 'big', 'day', 'pair', 'doc'])
    expect(stream.command).toBe('SELECT')
    expect(stream.rowCount).toBe(5000)
  })

  it('reads COPY text lines, and every kind of text comes back as query returns it', async () => {
    // Every byte COPY text escapes, text that looks like an escape or like a JSON line, NULLs,
    // empty strings, non-ASCII text, JSON and arrays, a value over several chunks.
    const text = `select E'a\\\\b\\tc\\nd\\re' as escapes, '\\N' as not_null, null::text as nothing,
      '' as empty, '\\{"command":"SELECT"}' as fake_line, jsonb_build_object('k', E'v\\t') as doc,
      array['a\tb', null, 'c"d'] as arr, 'héllo ✓ 😀' as unicode, repeat('ab', 70000) as long,
      n from generate_series(1, 3) n`
    const seen: Response[] = []
    const rows = await all(clientVia(() => {}, seen).stream(text))
    expect(seen[0]!.headers.get('content-type')).toBe('application/x-sluice-copy-text')
    const { rows: buffered } = await db.query(text)
    expect(rows).toEqual(buffered)
    expect(rows[0]).toMatchObject({
      escapes: 'a\\b\tc\nd\re',
      not_null: '\\N',
      nothing: null,
      empty: '',
      fake_line: '\\{"command":"SELECT"}',
      doc: { k: 'v\t' },
    })
    const noColumns = db.stream('select from generate_series(1, 4)', [], { rowMode: 'array' })
    expect(await all(noColumns)).toEqual([[], [], [], []])
    const oneEmpty = await all(db.stream("select '' as e from generate_series(1, 2)"))
    expect(oneEmpty).toEqual([{ e: '' }, { e: '' }])
  })

  it('reads NDJSON from a gateway that answers with it, with the same rows', async () => {
    const seen: Response[] = []
    const ndjsonOnly = clientVia((headers) => headers.set('accept', 'application/x-ndjson'), seen)
    const text = `select n, E'tab\\there' as t, now()::date as d from generate_series(1, 3000) n`
    const rows = await all(ndjsonOnly.stream(text))
    expect(seen[0]!.headers.get('content-type')).toBe('application/x-ndjson')
    expect(rows).toEqual(await all(db.stream(text)))
    expect(rows).toHaveLength(3000)
  })

  it('takes params, a sql query, or a template (the streaming sql tag)', async () => {
    const org = "o'brien"
    const fromParams = await all(db.stream('select $1::text as org, $2::int4 as n', [org, 2]))
    const fromQuery = await all(db.stream(sql`select ${org}::text as org, ${2}::int4 as n`))
    const fromTemplate = await all(db.stream`select ${org}::text as org, ${2}::int4 as n`)
    expect(fromParams).toEqual([{ org, n: 2 }])
    expect(fromQuery).toEqual(fromParams)
    expect(fromTemplate).toEqual(fromParams)
    const typed = db.stream<[number]>('select 1', [], { rowMode: 'array' })
    expectTypeOf(typed).toEqualTypeOf<RowStream<[number]>>()
    expect(await all(typed)).toEqual([[1]])
  })

  it('validates each row with a Standard Schema', async () => {
    const Row = z.object({ n: z.number().max(2) })
    const ok = await all(db.stream('select generate_series(1, 2) as n', [], { schema: Row }))
    expect(ok).toEqual([{ n: 1 }, { n: 2 }])
    const error = await caught(() =>
      all(db.stream('select generate_series(1, 3) as n', [], { schema: Row })),
    )
    expect(error.code).toBe('VALIDATION_ERROR')
  })

  it('throws the database error of a statement that fails before its first row', async () => {
    const error = await caught(() => all(db.stream('select * from no_such_table')))
    expect(isDatabaseError(error)).toBe(true)
    expect(error.sqlstate).toBe('42P01')
  })

  it('throws the database error of a statement that fails mid-stream, after its rows so far', async () => {
    const rows: unknown[] = []
    const error = await caught(async () => {
      for await (const row of db.stream(
        'select case when n = 4000 then 1 / (n - n) else n end as v from (select generate_series(1, 5000) as n) s',
      ))
        rows.push(row)
    })
    expect(isDatabaseError(error)).toBe(true)
    expect(error.sqlstate).toBe('22012')
    expect(rows.length).toBeGreaterThan(0)
    expect(rows.length).toBeLessThan(4000)
    await settled()
  })

  it('cancels the statement when the loop breaks early', async () => {
    let seen = 0
    for await (const _row of db.stream(
      "select n, repeat('x', 1000) from (select generate_series(1, 10000000) as n) s",
    )) {
      if (++seen === 10) break
    }
    expect(seen).toBe(10)
    await settled()
  })

  it('cancels the statement when its signal aborts', async () => {
    const controller = new AbortController()
    const error = await caught(async () => {
      for await (const _row of db.stream(
        "select n, repeat('x', 1000) from (select generate_series(1, 10000000) as n) s",
        [],
        { signal: controller.signal },
      ))
        controller.abort(new Error('enough'))
    })
    expect(error.message).toBe('enough')
    await settled()
  })

  it('streams inside a transaction', async () => {
    const seen = await db.transaction(async (tx) => {
      await tx.query('create temp table stream_tx_edge (n int) on commit drop')
      await tx.query('insert into stream_tx_edge select generate_series(1, 2500)')
      return all(tx.stream<{ n: number }>('select n from stream_tx_edge order by n'))
    })
    expect(seen).toHaveLength(2500)
    expect(seen.at(-1)).toEqual({ n: 2500 })
  })

  it('is a gateway error, not a network one, when a stream passes its limit', async () => {
    const limited = await startTestGateway({ stream: { maxRows: 10 } })
    try {
      const fetch = async (url: string, init: RequestInit) => limited.gateway.app.request(url, init)
      const client = createClient({ url: 'http://gateway.test', token: limited.token, fetch })
      const error = await caught(() => all(client.stream('select generate_series(1, 100)')))
      expect(isGatewayError(error)).toBe(true)
      expect(error.code).toBe('RESULT_TOO_LARGE')
    } finally {
      await limited.close()
    }
  })

  it('is a BAD_RESPONSE, not a SyntaxError, when a proxy answers 200 with a page or a broken line', async () => {
    for (const [body, type] of [
      ['<html>\n<body>sign in</body>\n</html>\n', 'text/html'],
      ['{"fields":[]}\n{"command": SEL\n', 'application/x-ndjson'],
    ]) {
      const fetch = async () => new Response(body, { headers: { 'content-type': type! } })
      const client = createClient({ url: 'http://gateway.test', token: 't', fetch, retry: false })
      const error = await caught(() => all(client.stream('select 1')))
      expect(error, type).toMatchObject({ code: 'BAD_RESPONSE', status: 200 })
    }
  })
})

describe('db.stream reading an answer that is not a whole stream', () => {
  const FIELDS =
    '{"fields":[{"name":"n","dataTypeID":25,"tableID":0,"columnID":0,"dataTypeSize":-1,"dataTypeModifier":-1}]}\n'
  const END = '{"command":"SELECT","rowCount":1}\n'
  let server: Server
  let url: string
  // Each request's path names the body and content type to answer with.
  const answers: Record<string, [string, string]> = {}

  beforeAll(async () => {
    server = createServer((req, res) => {
      const [body, type] = answers[req.url!.split('/')[1]!]!
      res.writeHead(200, { 'content-type': type })
      res.end(body)
    }).listen(0, '127.0.0.1')
    await new Promise((resolve) => server.once('listening', resolve))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(() => new Promise((resolve) => server.close(resolve)))

  /** What a stream of `body` yields before it throws, and what it throws. */
  async function read(body: string, type = 'application/x-ndjson') {
    const name = `case${Object.keys(answers).length}`
    answers[name] = [body, type]
    const db = createClient({ url: `${url}/${name}`, token: 't', retry: false })
    const rows: unknown[] = []
    let error: any
    try {
      for await (const row of db.stream('select 1', [], { rowMode: 'array' })) rows.push(row)
    } catch (thrown) {
      error = thrown
    }
    return { rows, error }
  }

  it('throws NETWORK_ERROR for a stream cut off before its last line, after the rows that came', async () => {
    const { rows, error } = await read(`${FIELDS}["a"]\n["b`)
    expect(rows).toEqual([['a']])
    expect(error).toMatchObject({
      code: 'NETWORK_ERROR',
      message: expect.stringMatching(/last line/),
    })
  })

  it('reads a content type in any case, as HTTP defines media types', async () => {
    const copyText = `\\${FIELDS}a\n\\${END}`
    const { rows, error } = await read(copyText, 'Application/X-Sluice-Copy-Text')
    expect(error).toBeUndefined()
    expect(rows).toEqual([['a']])
  })

  it('reads a whole stream again when iterated again, its fields line and all', async () => {
    answers.again = [`${FIELDS}["a"]\n${END}`, 'application/x-ndjson']
    const rows = createClient({ url: `${url}/again`, token: 't' }).stream('select 1')
    expect(await all(rows)).toEqual([{ n: 'a' }])
    expect(await all(rows)).toEqual([{ n: 'a' }])
  })

  it.each([
    ['a line that is not JSON', `${FIELDS}["a"]\nnot json\n${END}`],
    [
      'a COPY text line that is not JSON',
      '\\{"fields":[]}\n\\{not json\n',
      'application/x-sluice-copy-text',
    ],
    ['a last line without a command', `${FIELDS}["a"]\n{}\n`],
    ['a last line that is null', `${FIELDS}["a"]\nnull\n`],
    ['rows before the fields line', `["a"]\n${END}`],
    ['a COPY text row before the fields line', `a\n\\${END}`, 'application/x-sluice-copy-text'],
    ['a row after the last line', `${FIELDS}${END}["b"]\n`],
    ['text after the last line', `${FIELDS}${END}["b`],
    [
      'a JSON answer',
      '{"command":"SELECT","rowCount":1,"fields":[],"rows":[["1"]]}',
      'application/json',
    ],
    ["a proxy's page", '<html>502</html>\n', 'text/html'],
  ])('throws BAD_RESPONSE for %s, never ending as a success', async (_, body, type?: string) => {
    const { error } = await read(body, type)
    expect(isClientError(error)).toBe(true)
    expect(error).toMatchObject({ code: 'BAD_RESPONSE', status: 200 })
  })
})
