/**
 * Typed JSON output (requests without `Neon-Raw-Text-Output: true`), as Neon's proxy makes
 * it: bool → boolean, int2/int4 → number, float4/float8 → number (NaN and ±Infinity stay
 * strings), json/jsonb → the JSON itself, arrays of built-in types → JSON arrays, everything
 * else (int8, numeric, dates, …) → PostgreSQL's text. json/jsonb is embedded as PostgreSQL
 * printed it, never re-parsed, so big numbers inside it keep every digit.
 */

/** JSON text to embed as it is. */
export class RawJson {
  constructor(readonly text: string) {}
}

/** A typed value: JSON, with {@link RawJson} where a json/jsonb value goes. */
export type TypedValue = string | number | boolean | null | RawJson | TypedValue[]

const BOOL = 16
const INT2 = 21
const INT4 = 23
const FLOAT4 = 700
const FLOAT8 = 701
const JSON_OID = 114
const JSONB = 3802
const BOX_ARRAY = 1020

// Built-in array type OID → element type OID (pg_type where typcategory = 'A'; the
// int2vector/oidvector types print space-separated lists, so they are not here).
// prettier-ignore
const ARRAY_ELEMENT = new Map<number, number>([
  [143, 142], [199, 114], [271, 5069], [629, 628], [651, 650], [719, 718], [775, 774],
  [791, 790], [1000, 16], [1001, 17], [1002, 18], [1003, 19], [1005, 21], [1006, 22],
  [1007, 23], [1008, 24], [1009, 25], [1010, 27], [1011, 28], [1012, 29], [1013, 30],
  [1014, 1042], [1015, 1043], [1016, 20], [1017, 600], [1018, 601], [1019, 602], [1020, 603],
  [1021, 700], [1022, 701], [1027, 604], [1028, 26], [1034, 1033], [1040, 829], [1041, 869],
  [1115, 1114], [1182, 1082], [1183, 1083], [1185, 1184], [1187, 1186], [1231, 1700],
  [1263, 2275], [1270, 1266], [1561, 1560], [1563, 1562], [2201, 1790], [2207, 2202],
  [2208, 2203], [2209, 2204], [2210, 2205], [2211, 2206], [2949, 2970], [2951, 2950],
  [3221, 3220], [3643, 3614], [3644, 3642], [3645, 3615], [3735, 3734], [3770, 3769],
  [3807, 3802], [3905, 3904], [3907, 3906], [3909, 3908], [3911, 3910], [3913, 3912],
  [3927, 3926], [4073, 4072], [4090, 4089], [4097, 4096], [4192, 4191], [5039, 5038],
  [6150, 4451], [6151, 4532], [6152, 4533], [6153, 4534], [6155, 4535], [6157, 4536],
])

function scalar(text: string, typeId: number): TypedValue {
  switch (typeId) {
    case BOOL:
      return text === 't'
    case INT2:
    case INT4:
      return Number(text)
    case FLOAT4:
    case FLOAT8: {
      // JSON.stringify(-0) is '0': a negative zero goes as PostgreSQL printed it, `-0`.
      if (text === '-0') return new RawJson(text)
      const value = Number(text)
      return Number.isFinite(value) ? value : text
    }
    case JSON_OID:
    case JSONB:
      return new RawJson(text)
    default:
      return text
  }
}

/** Parses PostgreSQL's array output; `at` walks the text. */
class ArrayReader {
  private at = 0
  constructor(
    private readonly text: string,
    private readonly element: number,
    private readonly delimiter: string,
  ) {}

  read(): TypedValue[] {
    // Bounds decoration (`[1:2]={…}`) has no JSON form: skip it, as Neon does.
    if (this.text.startsWith('[')) this.at = this.text.indexOf('=') + 1
    const list = this.list()
    if (this.at !== this.text.length) throw new Error('array text did not end where expected')
    return list
  }

  private list(): TypedValue[] {
    if (this.text[this.at] !== '{') throw new Error('array text does not start with {')
    this.at++
    const items: TypedValue[] = []
    if (this.text[this.at] === '}') {
      this.at++
      return items
    }
    for (;;) {
      items.push(this.item())
      const next = this.text[this.at++]
      if (next === '}') return items
      if (next !== this.delimiter) throw new Error('unbalanced array text')
    }
  }

  private item(): TypedValue {
    const first = this.text[this.at]
    if (first === '{') return this.list()
    if (first === '"') {
      let value = ''
      for (this.at++; this.text[this.at] !== '"'; this.at++) {
        if (this.at >= this.text.length) throw new Error('unbalanced quoted string')
        if (this.text[this.at] === '\\') this.at++
        value += this.text[this.at]
      }
      this.at++
      return scalar(value, this.element)
    }
    let end = this.at
    while (end < this.text.length && this.text[end] !== this.delimiter && this.text[end] !== '}')
      end++
    const raw = this.text.slice(this.at, end)
    this.at = end
    return raw === 'NULL' ? null : scalar(raw, this.element)
  }
}

/** One value, typed by its column's type OID. */
export function typedValue(text: string | null, typeId: number): TypedValue {
  if (text === null) return null
  const element = ARRAY_ELEMENT.get(typeId)
  if (element === undefined) return scalar(text, typeId)
  return new ArrayReader(text, element, typeId === BOX_ARRAY ? ';' : ',').read()
}

/** JSON text of a typed value, embedding {@link RawJson} as it is. */
export function typedValueJson(value: TypedValue): string {
  if (value instanceof RawJson) return value.text
  if (Array.isArray(value)) return `[${value.map(typedValueJson).join(',')}]`
  return JSON.stringify(value)
}
