/**
 * Prisma's query arguments to what the client sends, following @prisma/adapter-pg's
 * `mapArg`: datetimes as UTC text (here with an explicit `+00:00`, so a timestamptz never
 * depends on the session's TimeZone), dates and times by their column's type, base64 bytes
 * decoded. Everything else goes to the client's own serializer (Uint8Array → bytea, arrays →
 * array literals, numbers and bigints → digits).
 */
import type { ArgType } from '@prisma/driver-adapter-utils'

const pad = (n: number, width = 2): string => String(n).padStart(width, '0')

function utcDate(date: Date): string {
  return `${pad(date.getUTCFullYear(), 4)}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}`
}

function utcTime(date: Date): string {
  const ms = date.getUTCMilliseconds()
  return (
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}` +
    (ms ? `.${pad(ms, 3)}` : '')
  )
}

function fromBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (char) => char.charCodeAt(0))
}

/** One argument of a Prisma query as the client should send it. */
export function mapArg(arg: unknown, argType: ArgType | undefined): unknown {
  if (arg === null || arg === undefined) return null
  if (Array.isArray(arg) && argType?.arity === 'list') {
    return arg.map((value: unknown) => mapArg(value, argType))
  }
  if (typeof arg === 'string' && argType?.scalarType === 'datetime') arg = new Date(arg)
  if (arg instanceof Date) {
    switch (argType?.dbType) {
      case 'TIME':
      case 'TIMETZ':
        return utcTime(arg)
      case 'DATE':
        return utcDate(arg)
      default:
        return `${utcDate(arg)} ${utcTime(arg)}+00:00`
    }
  }
  if (typeof arg === 'string' && argType?.scalarType === 'bytes') return fromBase64(arg)
  // A Decimal (decimal.js) or any other number-like object: its own text, never its JSON.
  if (argType?.scalarType === 'decimal' && typeof arg === 'object') return String(arg)
  return arg
}
