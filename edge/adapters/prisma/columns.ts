/**
 * Result columns for Prisma's engine: each PostgreSQL type OID to the column type the
 * engine reads (as @prisma/adapter-pg's `fieldToColumnType`), and the values in the form
 * it expects: int8 and numeric as text, json as its text, timestamptz as PostgreSQL prints
 * it (the engine reads the offset; adapter-pg's rewrite to `+00:00` assumes a UTC session),
 * timestamp as UTC, money without its currency sign, bytea as bytes.
 */
import type { ColumnType, ColumnTypeEnum } from '@prisma/driver-adapter-utils'
import { parseArray } from '../../../src/codecs/array.js'
import type { TypeParser } from '../../../src/codecs/parse.js'

// The engine's column type codes (@prisma/driver-adapter-utils' ColumnTypeEnum), copied so
// the adapter needs no runtime dependency; `satisfies` keeps them equal to the real ones.
const COLUMN = {
  Int32: 0,
  Int64: 1,
  Float: 2,
  Double: 3,
  Numeric: 4,
  Boolean: 5,
  Character: 6,
  Text: 7,
  Date: 8,
  Time: 9,
  DateTime: 10,
  Json: 11,
  Enum: 12,
  Bytes: 13,
  Set: 14,
  Uuid: 15,
  Int32Array: 64,
  Int64Array: 65,
  FloatArray: 66,
  DoubleArray: 67,
  NumericArray: 68,
  BooleanArray: 69,
  CharacterArray: 70,
  TextArray: 71,
  DateArray: 72,
  TimeArray: 73,
  DateTimeArray: 74,
  JsonArray: 75,
  EnumArray: 76,
  BytesArray: 77,
  UuidArray: 78,
  UnknownNumber: 128,
} as const satisfies typeof ColumnTypeEnum

const BY_OID: Record<number, ColumnType> = {
  21: COLUMN.Int32, // int2
  23: COLUMN.Int32, // int4
  20: COLUMN.Int64, // int8
  26: COLUMN.Int64, // oid
  700: COLUMN.Float,
  701: COLUMN.Double,
  16: COLUMN.Boolean,
  1082: COLUMN.Date,
  1083: COLUMN.Time,
  1266: COLUMN.Time, // timetz
  1114: COLUMN.DateTime,
  1184: COLUMN.DateTime,
  1700: COLUMN.Numeric,
  790: COLUMN.Numeric, // money
  114: COLUMN.Json,
  3802: COLUMN.Json,
  2950: COLUMN.Uuid,
  17: COLUMN.Bytes,
  1005: COLUMN.Int32Array,
  1007: COLUMN.Int32Array,
  1021: COLUMN.FloatArray,
  1022: COLUMN.DoubleArray,
  1231: COLUMN.NumericArray,
  791: COLUMN.NumericArray, // money[]
  1000: COLUMN.BooleanArray,
  1002: COLUMN.CharacterArray, // "char"[]
  1182: COLUMN.DateArray,
  1183: COLUMN.TimeArray,
  1115: COLUMN.DateTimeArray,
  1185: COLUMN.DateTimeArray,
  199: COLUMN.JsonArray,
  3807: COLUMN.JsonArray,
  1001: COLUMN.BytesArray,
  2951: COLUMN.UuidArray,
  1016: COLUMN.Int64Array,
  1028: COLUMN.Int64Array, // oid[]
  // Text arrays: text, bpchar, varchar, bit, varbit, inet, cidr, xml.
  1009: COLUMN.TextArray,
  1014: COLUMN.TextArray,
  1015: COLUMN.TextArray,
  1561: COLUMN.TextArray,
  1563: COLUMN.TextArray,
  1041: COLUMN.TextArray,
  651: COLUMN.TextArray,
  143: COLUMN.TextArray,
}

/**
 * The engine's column type for a type OID. Text for everything else (text, varchar, name,
 * enums and other types of your own…): where adapter-pg refuses a built-in type it has no
 * mapping for (interval, point…), Sluice passes PostgreSQL's text on.
 */
export function columnType(oid: number): ColumnType {
  return BY_OID[oid] ?? COLUMN.Text
}

const asText: TypeParser = (text) => text
// A timestamp without time zone is UTC to Prisma, as adapter-pg reads it: the engine would
// take a text without an offset for the process's local time (a Lambda runs in UTC, a
// laptop rarely does).
const timestamp: TypeParser = (text) => `${text.replace(' ', 'T')}+00:00`
const money: TypeParser = (text) => text.slice(1)
const timetz: TypeParser = (text) => text.replace(/[+-]\d\d(:\d\d)?$/, '')
const textArray: TypeParser = (text) => parseArray(text)

/**
 * Per-OID parsers for the client, over its defaults (which already match for the rest).
 * Frozen: every Prisma client in the process reads through it.
 */
export const PRISMA_PARSERS: Readonly<Record<number, TypeParser>> = Object.freeze({
  20: asText, // int8, whatever the client's `bigint` option
  114: asText, // json: the engine parses it
  3802: asText,
  1082: asText, // date and timestamptz: the engine reads PostgreSQL's text, offset and all
  1184: asText,
  1114: timestamp, // and so timestamp[] too
  1186: asText, // interval: text, not the client's Interval
  1266: timetz,
  790: money,
  791: (text) => parseArray(text, money),
  1002: textArray,
  1561: textArray,
  1563: textArray,
  143: textArray,
  // Arrays the client parses but the engine has no array type for: Text, so text.
  1008: asText, // regproc[]
  1040: asText, // macaddr[]
  1187: asText, // interval[]
  1270: asText, // timetz[]
  3907: asText, // numrange[]
})
