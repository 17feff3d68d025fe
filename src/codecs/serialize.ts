/**
 * JS values to PostgreSQL parameter text, as node-postgres's `prepareValue` does:
 * null/undefined → NULL, numbers → `String(n)` (but `-0` keeps its sign, which pg drops),
 * Date → local time with offset, bytes (any ArrayBuffer view, so Buffer too) → bytea hex,
 * arrays → array literals (nested, with NULLs), objects with `toPostgres()` → their text,
 * other objects → JSON, everything else → `String(value)`.
 * The gateway takes text only, so bytes travel as hex where node-postgres would send them
 * in binary; PostgreSQL reads both the same.
 */
import { encodeBytea } from './bytea.js'
import { formatDate } from './date.js'

/** An object that knows its own PostgreSQL text form (node-postgres's convention). */
export interface ToPostgres {
  toPostgres(prepare: (value: unknown) => string | null): unknown
}

/** The `toPostgres()` objects a top-level value is inside of: none (shared, never changed). */
const NONE_SEEN: readonly unknown[] = []

function arrayLiteral(values: readonly unknown[], seen: readonly unknown[]): string {
  const items = values.map((item) => {
    if (Array.isArray(item)) return arrayLiteral(item, seen)
    // Every element quoted, bytes' `\x…` too: PostgreSQL reads `"\\x01"` as node-postgres's
    // unquoted `\\x01`.
    const text = serialize(item, seen)
    return text === null ? 'NULL' : `"${text.replace(/[\\"]/g, '\\$&')}"`
  })
  return `{${items.join(',')}}`
}

function serialize(value: unknown, seen: readonly unknown[]): string | null {
  if (value === null || value === undefined) return null
  if (typeof value === 'function' || typeof value === 'symbol') {
    throw new TypeError(`cannot send a ${typeof value} as a parameter`)
  }
  // String(-0) is '0': a float8's negative zero would lose its sign.
  if (typeof value !== 'object') return Object.is(value, -0) ? '-0' : String(value)
  if (ArrayBuffer.isView(value)) {
    return encodeBytea(new Uint8Array(value.buffer, value.byteOffset, value.byteLength))
  }
  // Not `instanceof`: a Date from another realm (an iframe, a vm context) counts too.
  if (Object.prototype.toString.call(value) === '[object Date]') return formatDate(value as Date)
  if (Array.isArray(value)) return arrayLiteral(value, seen)
  if (typeof (value as Partial<ToPostgres>).toPostgres === 'function') {
    if (seen.includes(value)) throw new TypeError('circular toPostgres() in a parameter')
    return serialize((value as ToPostgres).toPostgres(serializeValue), [...seen, value])
  }
  return JSON.stringify(value)
}

/**
 * One parameter as PostgreSQL text, or null for SQL NULL.
 * @example serializeValue([1, null, 'a"b']) // '{"1",NULL,"a\\"b"}'
 */
export function serializeValue(value: unknown): string | null {
  return serialize(value, NONE_SEEN)
}

/** Every parameter of a statement as PostgreSQL text (the wire's `params`). */
export function serializeParams(values: readonly unknown[]): (string | null)[] {
  return values.map(serializeValue)
}
