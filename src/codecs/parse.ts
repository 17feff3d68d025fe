/**
 * PostgreSQL text output to JS values by type OID, following node-postgres's default text
 * parsers (pg-types), so code moving from `pg` reads the same values. Two opt-ins change
 * types (int8 as bigint, dates as strings); anything else can be set per OID.
 */
import { parseArray } from './array.js'
import { parseBytea } from './bytea.js'
import { parseDate } from './date.js'
import { parseInterval } from './interval.js'

/** Turns one non-NULL text value into a JS value. */
export type TypeParser = (text: string) => unknown

/** How results are parsed. */
export interface ParseOptions {
  /**
   * Return int8 (and int8[]) as `bigint` rather than a string. numeric stays a string: it
   * may have a fraction.
   * @default false
   */
  bigint?: boolean | undefined
  /**
   * Return date, timestamp and timestamptz (and their arrays) as PostgreSQL's text rather
   * than `Date`: no time zone conversion, no loss of microseconds.
   * @default false
   */
  dateStrings?: boolean | undefined
  /** Your own parsers by type OID; they win over the defaults, also for array elements. */
  parsers?: Readonly<Record<number, TypeParser>> | undefined
}

/** The parser of every type that stays text: the value as it is. */
export const asText: TypeParser = (text) => text
// PostgreSQL prints integers as digits alone, which Number reads as parseInt does.
const asInt: TypeParser = Number
// PostgreSQL prints a boolean as `t` or `f` only; pg-types' longer list adds nothing here.
const asBool: TypeParser = (text) => text === 't'

/**
 * Scalar types with a parser; every other type (uuid, text, time, …) stays text. Unlike
 * node-postgres, point and circle stay text too: rare over HTTP, not worth the bytes.
 */
const SCALARS: Record<number, TypeParser> = {
  16: asBool, // bool
  17: parseBytea, // bytea → Uint8Array
  21: asInt, // int2
  23: asInt, // int4
  26: asInt, // oid
  114: JSON.parse, // json
  3802: JSON.parse, // jsonb
  700: parseFloat, // float4
  701: parseFloat, // float8
  1082: parseDate, // date
  1114: parseDate, // timestamp
  1184: parseDate, // timestamptz
  1186: parseInterval, // interval
  // Strings, listed so that their arrays keep them as strings rather than take the parser
  // given for text (25), as elements with no default parser do.
  20: asText, // int8 (a bigint with `bigint: true`)
  1700: asText, // numeric: every digit kept
}

/** Array OIDs with their element OID. */
const ARRAYS: Record<number, number> = {
  1000: 16, // bool[]
  1001: 17, // bytea[]
  1005: 21, // int2[]
  1007: 23, // int4[]
  1028: 26, // oid[]
  1016: 20, // int8[]
  1021: 700, // float4[]
  1022: 701, // float8[]
  // numeric[]: node-postgres parses floats here and loses digits; Sluice keeps strings.
  1231: 1700,
  199: 114, // json[]
  3807: 3802, // jsonb[]
  1182: 1082, // date[]
  1115: 1114, // timestamp[]
  1185: 1184, // timestamptz[]
  1187: 1186, // interval[]
  1009: 25, // text[]
  1014: 1042, // bpchar[]
  1015: 1043, // varchar[]
  1008: 24, // regproc[]
  651: 650, // cidr[]
  1040: 829, // macaddr[]
  1041: 869, // inet[]
  2951: 2950, // uuid[]
  791: 790, // money[]
  1183: 1083, // time[]
  1270: 1266, // timetz[]
  3907: 3906, // numrange[]
}

/**
 * The parser for a type OID under `options`: yours, else the default (for an array, its
 * element parser applied to each element), else the text itself.
 */
export function getTypeParser(oid: number, options: ParseOptions = {}): TypeParser {
  const custom = options.parsers?.[oid]
  if (custom) return custom
  const element = ARRAYS[oid]
  if (element !== undefined) {
    // The element's parser, yours or the default; an element that has neither (uuid,
    // varchar, …) takes the one you gave for text (25), if any.
    const own = options.parsers?.[element] ?? SCALARS[element]
    const parseElement = getTypeParser(own ? element : 25, options)
    return (text) => parseArray(text, parseElement)
  }
  if (oid === 20 && options.bigint) return BigInt
  // date, timestamp and timestamptz: the types read by parseDate.
  if (options.dateStrings && SCALARS[oid] === parseDate) return asText
  return SCALARS[oid] ?? asText
}

/** Parses one value of type `oid`; NULL stays null. */
export function parseValue(text: string | null, oid: number, options?: ParseOptions): unknown {
  return text === null ? null : getTypeParser(oid, options)(text)
}
