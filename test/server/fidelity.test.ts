import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { databaseUrl, listenTestGateway, type ListeningGateway } from '../helpers/gateway.js'
import { copyTextRequest, streamRequest } from '../helpers/ndjson.js'

// Every value PostgreSQL holds comes back through every answer format exactly as
// PostgreSQL prints it, and every parameter reaches PostgreSQL as the client wrote it: each
// path of a listening gateway compared with pg's raw text for the same statement.

/** Values at the edges of their types, as PostgreSQL expressions. */
const VALUES: Record<string, string> = {
  'int8 beyond 2^53': `9007199254740993::int8`,
  'int8 min': `(-9223372036854775808)::int8`,
  'numeric of 1500 digits': `(repeat('9', 1000) || '.' || repeat('1', 500))::numeric`,
  'numeric NaN': `'NaN'::numeric`,
  'numeric -Infinity': `'-Infinity'::numeric`,
  'numeric with trailing zeros': `1.10::numeric(10,4)`,
  'float4 NaN': `'NaN'::float4`,
  'float4 -0': `'-0'::float4`,
  'float4 subnormal': `'1.4e-45'::float4`,
  'float8 -0': `'-0'::float8`,
  'float8 subnormal': `'4.9e-324'::float8`,
  'float8 max': `'1.7976931348623157e308'::float8`,
  'float8 -Infinity': `'-Infinity'::float8`,
  'timestamptz infinity': `'infinity'::timestamptz`,
  'timestamp -infinity': `'-infinity'::timestamp`,
  'timestamptz BC with microseconds': `'0044-03-15 12:00:00.123456 BC'::timestamptz`,
  'timestamp in year 10000': `'10000-01-01 00:00:00.000001'::timestamp`,
  'timestamp at its maximum': `'294276-12-31 23:59:59.999999'::timestamp`,
  'date BC': `'4713-01-01 BC'::date`,
  'date at its maximum': `'5874897-12-31'::date`,
  'timestamptz in a local mean time': `'1850-01-01 12:00:00 America/New_York'::timestamptz at time zone 'Asia/Kathmandu'`,
  'time at 24:00': `'24:00:00'::time`,
  'timetz with an odd offset': `'12:00:00.5+05:45'::timetz`,
  'interval, mixed signs': `'-1 year -2 mons 3 days -04:05:06.789012'::interval`,
  'interval infinity': `'infinity'::interval`,
  'bytea of every byte value': `(select string_agg(set_byte('\\x00'::bytea, 0, i), ''::bytea order by i) from generate_series(0, 255) i)`,
  'empty bytea': `''::bytea`,
  'empty text': `''::text`,
  'NULL text': `null::text`,
  'text of every Unicode plane': `'héllo ✓ 漢字 😀 \u{10FFFF} \u2028\u2029 \u0085 \uFEFF'::text`,
  'text of control characters': `E'\\x01\\x02\\x07\\x08\\x0b\\x0c\\x1b\\x7f \\t \\n \\r \\\\ " \\\\N'::text`,
  'text looking like a number': `'00123'::text`,
  'text looking like NULL': `'NULL'::text`,
  'json with big numbers and duplicate keys': `'{"n": 123456789012345678901234567890, "f": 1.000000000000000000001, "k": 1, "k": 2}'::json`,
  'jsonb with big numbers': `'{"n": 123456789012345678901234567890, "f": 1.000000000000000000001}'::jsonb`,
  'json null': `'null'::json`,
  'deeply nested json': `(repeat('[', 500) || repeat(']', 500))::json`,
  'empty array': `'{}'::int4[]`,
  'array with NULLs': `array[1, null, 3]`,
  'two-dimensional array with bounds': `'[0:1][-1:0]={{1,2},{3,4}}'::int4[]`,
  'text array of awkward strings': `array['a,b', 'c"d', 'e\\f', 'NULL', null, '', ' sp ', '{x}']::text[]`,
  'jsonb array': `array['{"a":1}'::jsonb, 'null'::jsonb, null]`,
  'bytea array': `array['\\x00ff'::bytea, null, ''::bytea]`,
  composite: `row(1, 'a,b', null, '"q"')`,
  range: `tstzrange('2020-01-01', 'infinity')`,
  money: `12345.67::money`,
  'bit string': `B'10101'::bit(5)`,
  uuid: `'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid`,
  inet: `'::ffff:1.2.3.4/128'::inet`,
  tsvector: `to_tsvector('english', 'The quick brown foxes')`,
  'box array (semicolons)': `array[box(point(1, 1), point(0, 0)), box(point(2, 2), point(3, 3))]`,
}
const NAMES = Object.keys(VALUES)
const SQL = `select ${NAMES.map((name, i) => `${VALUES[name]} as c${i}`).join(', ')}`

let t: ListeningGateway
let raw: pg.Client
let truth: (string | null)[]

beforeAll(async () => {
  t = await listenTestGateway({ cache: { enabled: true } })
  raw = new pg.Client({
    connectionString: databaseUrl(),
    types: { getTypeParser: () => (text: string) => text },
  })
  await raw.connect()
  truth = (await raw.query({ text: SQL, rowMode: 'array' })).rows[0] as (string | null)[]
})
afterAll(async () => {
  await raw?.end()
  await t?.close()
})

async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(t.url + path, {
    method: 'POST',
    headers: { Authorization: `Bearer ${t.token}`, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
  return { status: res.status, body: (await res.json()) as any }
}

/** The values by name, to read a failure by. */
const named = (values: readonly unknown[]) =>
  Object.fromEntries(NAMES.map((name, i) => [name, values[i]]))

describe('values of every type through every answer format', () => {
  it('come back from /v1/query exactly as PostgreSQL prints them', async () => {
    const { status, body } = await post('/v1/query', { sql: SQL })
    expect(status).toBe(200)
    expect(named(body.rows[0])).toEqual(named(truth))
  })

  it('come back from /v1/batch and a transaction exactly as PostgreSQL prints them', async () => {
    const batch = await post('/v1/batch', { statements: [{ sql: SQL }, { sql: SQL }] })
    expect(batch.status).toBe(200)
    for (const result of batch.body.results) expect(named(result.rows[0])).toEqual(named(truth))
    const { body: tx } = await post('/v1/transactions', {})
    const inside = await post(`/v1/transactions/${tx.id}/query`, { sql: SQL })
    await post(`/v1/transactions/${tx.id}/rollback`, {})
    expect(named(inside.body.rows[0])).toEqual(named(truth))
  })

  it('come back from a cached /v1/query the same, miss and hit', async () => {
    const ask = { sql: SQL, cache: { ttlMs: 60_000 } }
    for (let i = 0; i < 2; i++) {
      const { body } = await post('/v1/query', ask)
      expect(named(body.rows[0])).toEqual(named(truth))
    }
  })

  it('come back in NDJSON rows, as arrays and as objects', async () => {
    const arrays = await streamRequest(`${t.url}/v1/query`, t.token, { sql: SQL })
    expect(arrays.lines.at(-1)).toEqual({ command: 'SELECT', rowCount: 1 })
    expect(named(arrays.lines[1])).toEqual(named(truth))
    const objects = await streamRequest(`${t.url}/v1/query`, t.token, {
      sql: SQL,
      rowMode: 'object',
    })
    expect(named(NAMES.map((_, i) => objects.lines[1][`c${i}`]))).toEqual(named(truth))
  })

  it('come back in COPY text lines', async () => {
    const answer = await copyTextRequest(`${t.url}/v1/query`, t.token, { sql: SQL })
    expect(answer.lines.at(-1)).toEqual({ command: 'SELECT', rowCount: 1 })
    // Newlines only end lines, tabs only separate values, carriage returns are escaped.
    expect(answer.text.split('\n')).toHaveLength(4)
    expect(answer.text.split('\n')[1]!.split('\t')).toHaveLength(NAMES.length)
    expect(answer.text).not.toContain('\r')
    expect(named(answer.lines[1])).toEqual(named(truth))
  })

  it("come back from Neon's /sql as raw text, in array and object rows", async () => {
    const arrays = await post(
      '/sql',
      { query: SQL, params: [] },
      { 'Neon-Raw-Text-Output': 'true', 'Neon-Array-Mode': 'true' },
    )
    expect(named(arrays.body.rows[0])).toEqual(named(truth))
    const objects = await post(
      '/sql',
      { query: SQL, params: [] },
      { 'Neon-Raw-Text-Output': 'true' },
    )
    expect(named(NAMES.map((_, i) => objects.body.rows[0][`c${i}`]))).toEqual(named(truth))
  })

  it("keeps a float's negative zero in Neon's typed JSON", async () => {
    const { body } = await post('/sql', {
      query: `select '-0'::float8 as z, array['-0'::float4, 0] as zs, 0::float8 as plus`,
      params: [],
    })
    const [row] = body.rows
    expect(Object.is(row.z, -0)).toBe(true)
    expect(row.zs.map((z: number) => Object.is(z, -0))).toEqual([true, false])
    expect(Object.is(row.plus, 0)).toBe(true)
  })
})

describe('column names', () => {
  it('keep duplicates and names like __proto__ in every format', async () => {
    const sql = `select 1 as a, 2 as a, '{"x": 1}'::jsonb as "__proto__", 4 as "constructor", 5 as "é""\n"`
    const names = ['a', 'a', '__proto__', 'constructor', 'é"\n']
    const { body } = await post('/v1/query', { sql })
    expect(body.fields.map((f: { name: string }) => f.name)).toEqual(names)
    expect(body.rows).toEqual([['1', '2', '{"x": 1}', '4', '5']])
    // Object rows: the later of two columns with one name wins, as in pg.
    const objects = await streamRequest(`${t.url}/v1/query`, t.token, { sql, rowMode: 'object' })
    expect(Object.entries(objects.lines[1])).toEqual([
      ['a', '2'],
      ['__proto__', '{"x": 1}'],
      ['constructor', '4'],
      ['é"\n', '5'],
    ])
  })

  it('answer rows of a result without columns in every format', async () => {
    const sql = 'select from generate_series(1, 2)'
    expect((await post('/v1/query', { sql })).body.rows).toEqual([[], []])
    expect((await streamRequest(`${t.url}/v1/query`, t.token, { sql })).lines).toEqual([
      { fields: [] },
      [],
      [],
      { command: 'SELECT', rowCount: 2 },
    ])
    expect((await copyTextRequest(`${t.url}/v1/query`, t.token, { sql })).text).toBe(
      '\\{"fields":[]}\n\n\n\\{"command":"SELECT","rowCount":2}\n',
    )
  })
})

describe('JSON number parameters', () => {
  // Written by hand: JSON.stringify prints -0 as 0, but a Python client's json.dumps(-0.0)
  // sends -0.0.
  it('keep the sign of a negative zero', async () => {
    const alone = await post(
      '/v1/query',
      '{"sql": "select float8send($1::float8)::text, $2::float8::text, $3::float8::text", "params": [-0, -0.0, 0]}',
    )
    expect(alone.body.rows).toEqual([['\\x8000000000000000', '-0', '0']])
    // In a batch, in Neon's /sql (alone and in an array) and in the query cache's key too.
    const batch = await post(
      '/v1/batch',
      '{"statements": [{"sql": "select $1::float8::text, $2::float8::text", "params": [-0, 0]}]}',
    )
    expect(batch.body.results[0].rows).toEqual([['-0', '0']])
    const neon = await post(
      '/sql',
      '{"query": "select $1::float8::text, $2::float8[]::text", "params": [-0, [-0, 0]]}',
      { 'Neon-Raw-Text-Output': 'true', 'Neon-Array-Mode': 'true' },
    )
    expect(neon.body.rows).toEqual([['-0', '{-0,0}']])
    const cached = async (param: string) =>
      (
        await post(
          '/v1/query',
          `{"sql": "select $1::float8::text as v", "params": [${param}], "cache": {"ttlMs": 60000}}`,
        )
      ).body.rows
    expect(await cached('0')).toEqual([['0']])
    expect(await cached('-0')).toEqual([['-0']])
  })

  it('are refused, not rounded, when a double cannot hold them', async () => {
    for (const number of [
      '12345678901234567890',
      '9007199254740993',
      '0.30000000000000000001',
      '1e-400',
      '1e400',
    ]) {
      for (const [path, body] of [
        ['/v1/query', `{"sql": "select $1::numeric::text", "params": [${number}]}`],
        ['/v1/batch', `{"statements": [{"sql": "select $1::text", "params": [${number}]}]}`],
        ['/sql', `{"query": "select $1::text", "params": [{"n": ${number}}]}`],
      ] as const) {
        const { status, body: answer } = await post(path, body)
        expect(status, `${path} ${number}`).toBe(400)
        const message: string = answer.error?.message ?? answer.message
        expect(message).toContain(`the number ${number}`)
        expect(message).toContain('send it as a string')
      }
    }
    // As strings they arrive with every digit.
    const exact = await post('/v1/query', {
      sql: 'select $1::numeric::text',
      params: ['12345678901234567890.000000000000000000001'],
    })
    expect(exact.body.rows).toEqual([['12345678901234567890.000000000000000000001']])
  })

  it('are taken when a double holds their value, however they are written', async () => {
    const { status, body } = await post(
      '/v1/query',
      '{"sql": "select $1::text, $2::text, $3::text, $4::text, $5::text, $6::text", "params": [1.10, 2e3, 0.1, 5e-324, 9007199254740992, -1.5E-7], "timeoutMs": 3e4}',
    )
    expect(status).toBe(200)
    expect(body.rows).toEqual([['1.1', '2000', '0.1', '5e-324', '9007199254740992', '-1.5e-7']])
  })
})
