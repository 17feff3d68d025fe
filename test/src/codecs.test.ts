import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { getTypeParser, parseValue } from '../../src/codecs/parse.js'
import { serializeValue } from '../../src/codecs/serialize.js'
import { parseDate, parseDateFast } from '../../src/codecs/date.js'
import { Interval } from '../../src/codecs/interval.js'
import { databaseUrl } from '../helpers/gateway.js'

// One client parses as node-postgres does by default; the other hands back PostgreSQL's raw
// text, which is what the gateway puts on the wire.
let parsed: pg.Client
let raw: pg.Client

beforeAll(async () => {
  parsed = new pg.Client({ connectionString: databaseUrl() })
  raw = new pg.Client({
    connectionString: databaseUrl(),
    types: { getTypeParser: () => (text: string) => text },
  })
  await Promise.all([parsed.connect(), raw.connect()])
})
afterAll(() => Promise.all([parsed.end(), raw.end()]))

/** Buffers become plain Uint8Arrays so both sides compare by bytes. */
function normalize(value: unknown): unknown {
  if (value instanceof Uint8Array) return Uint8Array.from(value)
  if (Array.isArray(value)) return value.map(normalize)
  return value
}

/** The same SQL through pg's parsers and through ours on the raw text, by type OID. */
async function both(sql: string): Promise<{ ours: unknown[]; theirs: unknown[]; oids: number[] }> {
  const [a, b] = await Promise.all([
    parsed.query({ text: sql, rowMode: 'array' }),
    raw.query({ text: sql, rowMode: 'array' }),
  ])
  const oids = b.fields.map((f) => f.dataTypeID)
  const ours = (b.rows[0] as (string | null)[]).map((text, i) => parseValue(text, oids[i]!))
  return { ours: ours.map(normalize), theirs: (a.rows[0] as unknown[]).map(normalize), oids }
}

describe('the time zone of this run', () => {
  it('is away from UTC when a vitest project sets TZ', () => {
    // America/New_York is 5 hours behind in January, Asia/Kolkata 5½ ahead.
    const offset = new Date(2026, 0, 15).getTimezoneOffset()
    if (process.env.TZ === 'America/New_York') expect(offset).toBe(300)
    else if (process.env.TZ === 'Asia/Kolkata') expect(offset).toBe(-330)
    else expect(Number.isInteger(offset)).toBe(true)
  })
})

describe('parsing PostgreSQL text output by type OID', () => {
  const same: Record<string, string> = {
    'integers and oid': `select 1::int2, (-32768)::int2, 2147483647::int4, 'pg_class'::regclass::oid, null::int4`,
    'int8 as a string, beyond 2^53': `select 9223372036854775807::int8, -9007199254740993::int8`,
    floats: `select 1.5::float4, 1.5e300::float8, 'NaN'::float8, '-Infinity'::float8, -0.0::float8`,
    'numeric as a string with every digit': `select 12345678901234567890.123456789012::numeric, 'NaN'::numeric`,
    booleans: `select true, false, null::bool`,
    'text, uuid, time, money and inet as strings': `select 'héllo ☃ "q" \\'::text, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, '04:05:06.789'::time, '04:05:06+02'::timetz, 12.34::money, '192.168.0.1/24'::inet`,
    'json and jsonb': `select '{"a":[1,2,{"b":null}],"c":"d"}'::json, '{"n": 1.5, "s": "x", "t": true}'::jsonb, '"just a string"'::jsonb`,
    'bytea in hex': `select '\\xdeadbeef00'::bytea, ''::bytea`,
    dates: `select '2024-02-29'::date, '0001-01-01 BC'::date, '0050-06-01'::date, 'infinity'::date`,
    timestamps: `select '2026-11-24 13:12:00.123456'::timestamp, '0099-12-31 23:59:59'::timestamp, '-infinity'::timestamp`,
    'timestamptz with offsets and BC years': `select '2026-11-24 13:12:00.123456+00'::timestamptz, '2026-06-01 00:00:00+05:30'::timestamptz, '0044-03-15 12:00:00+00 BC'::timestamptz`,
    intervals: `select '1 year 2 mons 3 days 04:05:06.789'::interval, '-1 days -02:30:00'::interval, '00:00:00.000001'::interval, '0'::interval, '-3 years'::interval, '1 year -2 mons +3 days -04:05:06.5'::interval, '-00:00:01.25'::interval, '100 hours'::interval`,
    'int, bool and float arrays with NULLs': `select array[1,null,3]::int4[], array[true,null,false], array[1.5,null,'NaN']::float8[], array[]::int2[]`,
    'nested arrays and explicit bounds': `select array[[1,2],[3,4]]::int4[], array[[[1],[2]],[[3],[4]]]::int8[], '[0:1]={7,8}'::int4[], '[1:2][1:1]={{1},{2}}'::int4[], array[array[null,'a,b'],array['{',null]]::text[]`,
    'text arrays with quotes, backslashes, braces, commas and NULL': `select array['a "b"', 'c\\d', '{e}', 'f,g', 'NULL', '', null, ' h ']::text[], array['x','y']::varchar[]`,
    'int8 arrays': `select array[9223372036854775807, null, -1]::int8[]`,
    'date and timestamp arrays': `select array['2024-02-29', null, 'infinity']::date[], array['2026-11-24 13:12:00.5+00', '2020-01-01 00:00:00+03']::timestamptz[], array['2026-11-24 13:12:00']::timestamp[]`,
    'json, jsonb, bytea, uuid and interval arrays': `select array['{"a":1}', null, '[1,"two"]']::json[], array['{"b":[true]}']::jsonb[], array['\\x00ff'::bytea, null], array['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11']::uuid[], array['1 day 02:00:00', null]::interval[]`,
  }
  for (const [what, sql] of Object.entries(same)) {
    it(`reads ${what} as pg does`, async () => {
      const { ours, theirs } = await both(sql)
      expect(ours).toEqual(theirs)
    })
  }

  it('reads every byte value of a bytea (0x0a-0x0f included) as pg does', async () => {
    const hex = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0')).join('')
    const { ours, theirs } = await both(`select '\\x${hex}'::bytea, '\\x0a0b0c0d0e0f'::bytea`)
    expect(ours).toEqual(theirs)
    expect(Array.from(ours[0] as Uint8Array)).toEqual(Array.from({ length: 256 }, (_, i) => i))
    expect(Array.from(ours[1] as Uint8Array)).toEqual([10, 11, 12, 13, 14, 15])
  })

  // PostgreSQL prints a timestamptz in the session's time zone: only a session away from UTC
  // shows a non-zero offset, half hours, quarter hours, negative ones and LMT's seconds.
  for (const zone of ['Asia/Kolkata', 'America/St_Johns', 'Asia/Kathmandu', 'America/New_York']) {
    it(`reads timestamptz printed in ${zone} as pg does`, async () => {
      await Promise.all([parsed, raw].map((c) => c.query(`set timezone = '${zone}'`)))
      try {
        const sql = `select '2026-11-24 13:12:00.123456+00'::timestamptz, '2026-06-01 00:00:00+00'::timestamptz,
          '1850-01-01 12:00:00+00'::timestamptz, '0044-03-15 12:00:00+00 BC'::timestamptz,
          array['2026-11-24 13:12:00.5+00', '1850-01-01 00:00:00+00']::timestamptz[]`
        const { ours, theirs } = await both(sql)
        expect(ours).toEqual(theirs)
        const text = (await raw.query({ text: sql, rowMode: 'array' })).rows[0] as string[]
        // The offsets really are not zero.
        expect(text[0]).toMatch(/[+-](?!00$)\d\d(:\d\d)?$/)
        expect(new Date(ours[0] as Date).toISOString()).toBe('2026-11-24T13:12:00.123Z')
      } finally {
        await Promise.all([parsed, raw].map((c) => c.query('reset timezone')))
      }
    })
  }

  it('reads bytea in the escape format as pg does', async () => {
    await Promise.all([
      parsed.query('set bytea_output = escape'),
      raw.query('set bytea_output = escape'),
    ])
    try {
      const { ours, theirs } = await both(`select '\\x00015c5c277f80ff41'::bytea`)
      expect(ours).toEqual(theirs)
      expect(Array.from(ours[0] as Uint8Array)).toEqual([0, 1, 92, 92, 39, 127, 128, 255, 65])
    } finally {
      await Promise.all([parsed.query('reset bytea_output'), raw.query('reset bytea_output')])
    }
  })

  it('keeps numeric[] elements as strings, where pg loses digits to floats', async () => {
    const { ours, theirs } = await both(
      `select array[12345678901234567890.5, null, 0.10]::numeric[]`,
    )
    expect(ours).toEqual([['12345678901234567890.5', null, '0.10']])
    expect(theirs).toEqual([[parseFloat('12345678901234567890.5'), null, 0.1]])
  })

  it('returns int8 as bigint when asked, also inside arrays', async () => {
    const { rows, fields } = await raw.query({
      text: `select 9223372036854775807::int8, array[-9223372036854775808, null]::int8[]`,
      rowMode: 'array',
    })
    const values = (rows[0] as string[]).map((text, i) =>
      parseValue(text, fields[i]!.dataTypeID, { bigint: true }),
    )
    expect(values).toEqual([9223372036854775807n, [-9223372036854775808n, null]])
  })

  it('returns dates as PostgreSQL text when asked, also inside arrays', async () => {
    const { rows, fields } = await raw.query({
      text: `select '2026-11-24 13:12:00.123456+00'::timestamptz, '2024-02-29'::date, array['2026-01-01 10:00:00']::timestamp[]`,
      rowMode: 'array',
    })
    const values = (rows[0] as string[]).map((text, i) =>
      parseValue(text, fields[i]!.dataTypeID, { dateStrings: true }),
    )
    expect(values).toEqual([rows[0]![0], '2024-02-29', ['2026-01-01 10:00:00']])
  })

  it('uses a parser given for an OID, also for that type inside arrays', async () => {
    const parsers = { 1700: Number }
    expect(getTypeParser(1700, { parsers })('1.25')).toBe(1.25)
    expect(getTypeParser(1231, { parsers })('{1.5,NULL}')).toEqual([1.5, null])
  })

  it('uses the text parser inside arrays whose elements stay strings, and the array OID’s own first', () => {
    const upper = (text: string) => text.toUpperCase()
    expect(getTypeParser(2951, { parsers: { 25: upper } })('{a0eebc99-9c0b,NULL}')).toEqual([
      'A0EEBC99-9C0B',
      null,
    ])
    expect(getTypeParser(2951, { parsers: { 2951: upper } })('{a}')).toBe('{A}')
  })

  it('uses a parser given for a string element type (uuid, varchar, …) inside its array, over the text parser', () => {
    const tagged = (tag: string) => (text: string) => `${tag}:${text}`
    const parsers = { 25: tagged('text'), 2950: tagged('uuid'), 1043: tagged('varchar') }
    expect(getTypeParser(2951, { parsers })('{a0eebc99,NULL}')).toEqual(['uuid:a0eebc99', null])
    expect(getTypeParser(1015, { parsers })('{{a},{b}}')).toEqual([['varchar:a'], ['varchar:b']])
    // Elements with no parser of their own still take the text parser…
    expect(getTypeParser(1041, { parsers })('{10.0.0.1}')).toEqual(['text:10.0.0.1'])
    // …but numeric and int8, which have theirs (the text itself), keep their digits as they are.
    expect(getTypeParser(1231, { parsers })('{1.50}')).toEqual(['1.50'])
    expect(getTypeParser(1016, { parsers })('{7}')).toEqual(['7'])
    expect(getTypeParser(1016, { parsers, bigint: true })('{7}')).toEqual([7n])
  })

  it('reads json as its text when given String as its parser, every digit kept', async () => {
    const { rows } = await raw.query(
      `select '{"n": 123456789012345678901234567890, "k": 1, "k": 2}'::json as v`,
    )
    expect(parseValue(rows[0].v, 114)).toEqual({ n: 1.2345678901234568e29, k: 2 })
    expect(parseValue(rows[0].v, 114, { parsers: { 114: String } })).toBe(rows[0].v)
    expect([parseValue('null', 3802), parseValue(null, 3802)]).toEqual([null, null])
    expect(parseValue('null', 3802, { parsers: { 3802: String } })).toBe('null')
  })

  it('reads interval infinity as ±Infinity, where pg reads an empty interval', async () => {
    const { ours, theirs } = await both(
      `select 'infinity'::interval, '-infinity'::interval, array['infinity'::interval]`,
    )
    expect(ours).toEqual([Infinity, -Infinity, [Infinity]])
    expect(theirs.map((v) => JSON.stringify(v))).toEqual(['{}', '{}', '[{}]'])
  })

  it('leaves types it does not know as PostgreSQL text', async () => {
    const { ours, theirs, oids } = await both(`select 'fat & rat'::tsquery, '[1,5)'::int4range`)
    expect(ours).toEqual(theirs)
    expect(ours).toEqual(["'fat' & 'rat'", '[1,5)'])
    expect(oids).toEqual([3615, 3904])
  })
})

describe('timestamps, by the fast path and the general one', () => {
  it.each(['UTC', 'Asia/Kolkata', 'America/St_Johns', 'Asia/Kathmandu', 'Europe/Berlin'])(
    'parse as node-postgres does for 400 values printed in %s',
    async (zone) => {
      // Offsets of whole hours, half and quarter hours, fractions of every length, years
      // from 1 to 9999, BC ones, and timestamps without a zone.
      const sql = `select array_agg(t), array_agg(t::timestamptz)
        from (select timestamp '0001-01-01' + ((g::int8 * 1103515245) % 3652058) * interval '1 day'
                     + ((g::int8 * 2654435761) % 86400000000) * interval '1 microsecond' as t
              from generate_series(1, 200) g
              union all select timestamp '2026-03-29 01:30:00.5' union all select timestamp '0100-02-28 23:59:59.999999'
              union all select timestamp '0044-03-15 12:00:00' - interval '100 years') s`
      for (const client of [parsed, raw]) await client.query(`set timezone = '${zone}'`)
      const [a, b] = await Promise.all([
        parsed.query({ text: sql, rowMode: 'array' }),
        raw.query({ text: sql, rowMode: 'array' }),
      ])
      const oids = b.fields.map((f) => f.dataTypeID)
      const ours = (b.rows[0] as string[]).map((text, i) => parseValue(text, oids[i]!))
      expect(ours).toEqual(a.rows[0])
      // The streams' faster parser answers the same, text by text.
      const texts = await raw.query({
        text: sql.replace('array_agg(t), array_agg(t::timestamptz)', 't, t::timestamptz'),
        rowMode: 'array',
      })
      for (const text of (texts.rows as string[][]).flat())
        expect(parseDateFast(text), text).toEqual(parseDate(text))
      for (const client of [parsed, raw]) await client.query('reset timezone')
    },
  )
})

describe('serialising parameters to PostgreSQL text', () => {
  /** What PostgreSQL makes of pg's own parameter and of our text, cast to `type`. */
  async function sameAsPg(value: unknown, type: string): Promise<[unknown, unknown]> {
    const sql = `select $1::${type} as v`
    const [theirs, ours] = await Promise.all([
      parsed.query(sql, [value]),
      parsed.query(sql, [serializeValue(value)]),
    ])
    return [normalize(ours.rows[0].v), normalize(theirs.rows[0].v)]
  }

  const cases: [string, unknown, string][] = [
    ['null and undefined as NULL', null, 'text'],
    ['undefined as NULL', undefined, 'int4'],
    ['numbers', 42.5, 'float8'],
    ['Infinity', -Infinity, 'float8'],
    ['booleans', true, 'bool'],
    ['bigint beyond 2^53', 9007199254740993n, 'int8'],
    ['strings with quotes and backslashes', `it's a "test" \\ ☃`, 'text'],
    ['a Date as a timestamptz', new Date('2026-11-24T13:12:00.123Z'), 'timestamptz'],
    ['a Date as a timestamp', new Date(2026, 10, 24, 13, 12, 0, 5), 'timestamp'],
    ['a Uint8Array as bytea', new Uint8Array([0, 1, 2, 253, 254, 255]), 'bytea'],
    ['a Buffer as bytea', Buffer.from('héllo'), 'bytea'],
    ['an empty Uint8Array as bytea', new Uint8Array(0), 'bytea'],
    [
      'every byte value as bytea (0x0a-0x0f included)',
      Uint8Array.from({ length: 256 }, (_, i) => i),
      'bytea',
    ],
    ['objects as json', { a: [1, 'two', null], b: { c: true } }, 'jsonb'],
    ['int arrays with NULLs', [1, null, 3], 'int4[]'],
    [
      'nested arrays',
      [
        [1, 2],
        [3, 4],
      ],
      'int8[]',
    ],
    [
      'text arrays with quotes, commas, braces and backslashes',
      ['a "b"', 'c\\d', '{e}', 'f,g', 'NULL', ''],
      'text[]',
    ],
    ['arrays of Dates', [new Date('2026-11-24T13:12:00.5Z'), null], 'timestamptz[]'],
    ['arrays of bytes', [new Uint8Array([1, 2]), Buffer.from([255]), null], 'bytea[]'],
    ['arrays of objects as json', [{ a: 1 }, { b: 'x"y' }], 'jsonb[]'],
    ['arrays of bigints', [1n, -9223372036854775808n], 'int8[]'],
  ]
  for (const [what, value, type] of cases) {
    it(`sends ${what} as pg does`, async () => {
      const [ours, theirs] = await sameAsPg(value, type)
      expect(ours).toEqual(theirs)
    })
  }

  it('sends an interval read back from PostgreSQL as the same interval', async () => {
    const { rows } = await raw.query(`select '1 year 2 mons -3 days 04:05:06.789'::interval as v`)
    const interval = new Interval(rows[0].v)
    const back = await raw.query('select $1::interval as v', [serializeValue(interval)])
    expect(back.rows[0].v).toBe(rows[0].v)
  })

  it("sends a Date of a zone's local mean time (offsets with seconds) as the same instant", async () => {
    // Before standard time a zone kept its local mean time: New York was 4:56:02 behind UTC
    // until 1883, Kolkata 5:53:28 ahead until 1854, and so in years 5 and 44 BC too.
    // getTimezoneOffset() counts whole minutes only; pg is off by those seconds.
    const zone = process.env.TZ
    const instants: [Date, string][] = [
      [new Date(Date.UTC(1850, 0, 1, 12)), '1850-01-01 12:00:00'],
      [new Date('0005-03-01T00:00:00Z'), '0005-03-01 00:00:00'],
      [new Date(Date.UTC(-43, 2, 15)), '0044-03-15 00:00:00 BC'],
    ]
    try {
      for (const [tz, wallClock] of [
        ['UTC', '1850-01-01 12:00:00'],
        ['America/New_York', '1850-01-01 07:03:58'],
        ['Asia/Kolkata', '1850-01-01 17:53:28'],
      ] as const) {
        process.env.TZ = tz
        for (const [date, instant] of instants) {
          const { rows } = await raw.query(`select $1::timestamptz at time zone 'UTC' as v`, [
            serializeValue(date),
          ])
          expect(rows[0].v, `${tz} ${instant}`).toBe(instant)
        }
        // A timestamp without time zone keeps the runtime's wall clock, as before.
        const { rows } = await raw.query(`select $1::timestamp as v`, [
          serializeValue(instants[0]![0]),
        ])
        expect(rows[0].v, tz).toBe(wallClock)
      }
    } finally {
      if (zone === undefined) delete process.env.TZ
      else process.env.TZ = zone
    }
  })

  it('sends -0 as -0, keeping the sign pg drops', async () => {
    expect(serializeValue(-0)).toBe('-0')
    expect(serializeValue([-0, 0])).toBe('{"-0","0"}')
    const { rows } = await raw.query('select float8send($1::float8)::text as v', [
      serializeValue(-0),
    ])
    expect(rows[0].v).toBe('\\x8000000000000000')
  })

  it('uses toPostgres() when an object has one', () => {
    expect(serializeValue({ toPostgres: () => 'custom' })).toBe('custom')
    expect(serializeValue([{ toPostgres: () => null }])).toBe('{NULL}')
  })

  it('refuses an invalid Date, a function and a circular toPostgres()', () => {
    expect(() => serializeValue(new Date('nope'))).toThrow(TypeError)
    expect(() => serializeValue(() => 1)).toThrow(/function/)
    const loop: { toPostgres(): unknown } = { toPostgres: () => loop }
    expect(() => serializeValue(loop)).toThrow(/circular/)
  })
})
