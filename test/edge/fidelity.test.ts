import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient, type StreamingClient } from '../../edge/streaming.js'
import { listenTestGateway, type ListeningGateway } from '../helpers/gateway.js'

// The edge client against a listening gateway: what it decodes is what the documented type
// mapping (docs/types.md) promises for the value PostgreSQL holds, by every way of reading a
// result, and what it sends arrives in PostgreSQL exactly.

let t: ListeningGateway
let db: StreamingClient

beforeAll(async () => {
  t = await listenTestGateway()
  db = createClient({ url: t.url, token: t.token })
})
afterAll(async () => {
  await t?.close()
})

/** The rows of `sql` read by every way a client has: query, stream, batch and transaction. */
async function everyWay(sql: string, rowMode: 'object' | 'array' = 'object', client = db) {
  const streamed: unknown[] = []
  for await (const row of client.stream(sql, [], { rowMode })) streamed.push(row)
  const [batched] = await client.batch([{ text: sql, values: [] }], { rowMode })
  const inTransaction = await client.transaction((tx) => tx.query(sql, [], { rowMode }))
  return {
    query: (await client.query(sql, [], { rowMode })).rows,
    stream: streamed,
    batch: batched!.rows,
    transaction: inTransaction.rows,
  }
}

describe('column names', () => {
  it('keeps a column named __proto__ as a key of the row, not as its prototype', async () => {
    const sql = `select '{"isAdmin": true}'::jsonb as "__proto__", 1 as a, 2 as a, 3 as "constructor"`
    for (const [way, rows] of Object.entries(await everyWay(sql))) {
      const row = rows[0] as Record<string, unknown>
      expect(Object.getPrototypeOf(row), way).toBe(Object.prototype)
      expect(Object.getOwnPropertyDescriptor(row, '__proto__')?.value, way).toEqual({
        isAdmin: true,
      })
      expect(row.isAdmin, way).toBeUndefined()
      // Of two columns with one name the later wins, as in pg.
      expect(Object.keys(row), way).toEqual(['__proto__', 'a', 'constructor'])
      expect([row.a, row.constructor], way).toEqual([2, 3])
    }
  })
})

describe('parsers', () => {
  it('applies a parser given for an element type inside its array, for arrays of strings too', async () => {
    const tagged = (tag: string) => (text: string) => `${tag}:${text}`
    const parsers = {
      25: tagged('text'),
      2950: tagged('uuid'),
      1043: tagged('varchar'),
      869: tagged('inet'),
      1083: tagged('time'),
      3906: tagged('numrange'),
      1700: tagged('numeric'),
    }
    const client = createClient({ url: t.url, token: t.token, parsers })
    const id = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'
    const sql = `select '${id}'::uuid as id, array['${id}'::uuid, null] as ids,
      array[['a'], ['b']]::varchar[] as names, array['10.0.0.1'::inet] as hosts,
      array['04:05'::time] as times, array['[1,2)'::numrange] as ranges,
      array[1.50] as amounts, array['x']::text[] as texts, array['y']::bpchar[] as chars`
    for (const [way, rows] of Object.entries(await everyWay(sql, 'object', client))) {
      expect(rows, way).toEqual([
        {
          id: `uuid:${id}`,
          ids: [`uuid:${id}`, null],
          names: [['varchar:a'], ['varchar:b']],
          hosts: ['inet:10.0.0.1'],
          times: ['time:04:05:00'],
          ranges: ['numrange:[1,2)'],
          amounts: ['numeric:1.50'],
          texts: ['text:x'],
          // No parser given for bpchar: its elements take the one given for text.
          chars: ['text:y'],
        },
      ])
    }
  })
})

describe('intervals', () => {
  it('reads infinity and -infinity as ±Infinity, alone and in arrays, and sends them back', async () => {
    const sql = `select 'infinity'::interval as up, '-infinity'::interval as down,
      array['infinity'::interval, null, '1 day'] as list`
    for (const [way, rows] of Object.entries(await everyWay(sql))) {
      const row = rows[0] as Record<string, any>
      expect([row.up, row.down, row.list[0], row.list[1]], way).toEqual([
        Infinity,
        -Infinity,
        Infinity,
        null,
      ])
      expect({ ...row.list[2] }, way).toEqual({ days: 1 })
    }
    const back = await db.query('select $1::interval::text as up, $2::interval::text as down', [
      Infinity,
      -Infinity,
    ])
    expect(back.rows).toEqual([{ up: 'infinity', down: '-infinity' }])
  })
})

describe('parameters', () => {
  it("sends a float's negative zero with its sign, alone and in arrays", async () => {
    const { rows } = await db.query(
      'select float8send($1::float8)::text as bits, $2::float4[]::text as list, $3::float8::text as plus',
      [-0, [-0, 0], 0],
    )
    expect(rows).toEqual([{ bits: '\\x8000000000000000', list: '{-0,0}', plus: '0' }])
  })

  it('sends every kind of value as PostgreSQL then holds it', async () => {
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i)
    const values: [unknown, string, string][] = [
      [2n ** 63n - 1n, 'int8', '9223372036854775807'],
      [10n ** 40n, 'numeric', '10000000000000000000000000000000000000000'],
      [NaN, 'float8', 'NaN'],
      [-Infinity, 'float4', '-Infinity'],
      [5e-324, 'float8', '5e-324'],
      [new Date('-000043-03-15T12:00:00.123Z'), 'timestamptz', '0044-03-15 12:00:00.123+00 BC'],
      [new Date('+010000-01-01T00:00:00.001Z'), 'timestamptz', '10000-01-01 00:00:00.001+00'],
      [bytes, 'bytea', `\\x${Buffer.from(bytes).toString('hex')}`],
      [bytes.subarray(250, 253), 'bytea', '\\xfafbfc'],
      [new Uint8Array(0), 'bytea', '\\x'],
      [
        [
          [1, null],
          [3, 4],
        ],
        'int4[]',
        '{{1,NULL},{3,4}}',
      ],
      [[], 'int4[]', '{}'],
      [
        ['a,b', 'c"d', 'e\\f', 'NULL', null, '', ' sp ', '{x}', undefined],
        'text[]',
        '{"a,b","c\\"d","e\\\\f","NULL",NULL,""," sp ","{x}",NULL}',
      ],
      [[bytes.subarray(0, 2), null, new Uint8Array(0)], 'bytea[]', '{"\\\\x0001",NULL,"\\\\x"}'],
      [
        { a: [1, null], big: '12345678901234567890' },
        'jsonb',
        '{"a": [1, null], "big": "12345678901234567890"}',
      ],
      [
        'héllo ✓ 漢字 😀 \u{10FFFF} \u2028 \uFEFF',
        'text',
        'héllo ✓ 漢字 😀 \u{10FFFF} \u2028 \uFEFF',
      ],
      ['', 'text', ''],
    ]
    for (const [value, type, text] of values) {
      const { rows } = await db.query<{ v: string }>(
        `select $1::${type}::text as v, $1::${type} is null as n`,
        [value],
      )
      expect(rows, `${type} ${text}`).toEqual([{ v: text, n: false }])
    }
  })
})
