/**
 * Dates and timestamps both ways, as node-postgres does: its `postgres-date` parser for
 * date/timestamp/timestamptz output (ISO DateStyle), and its `dateToString` for Date
 * parameters. Both use the runtime's local time zone where PostgreSQL gives no offset, so
 * a `timestamp` (without time zone) round-trips in the same runtime.
 */

// date | timestamp | timestamptz (offset ±hh[:mm[:ss]]), each optionally BC.
const DATE_TIME =
  /^(\d+)-(\d\d)-(\d\d)(?: (\d\d):(\d\d):(\d\d)(\.\d+)?(?:([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?)?)?( BC)?$/

// The common shapes: a four-digit year, no BC, an offset of whole hours or hours and minutes.
const ISO_LIKE = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d{1,6})?)(?:([+-]\d\d)(:\d\d)?)?$/

/**
 * The common shapes handed to the runtime's own ISO parser (several times faster than the
 * general path below, which every other shape takes); `undefined` for any other shape.
 * Without an offset it is local time, as an ISO date-time without one is.
 */
function parseIsoLike(text: string): number | undefined {
  const m = ISO_LIKE.exec(text)
  return m ? Date.parse(`${m[1]}T${m[2]}${m[3] ? m[3] + (m[4] ?? ':00') : ''}`) : undefined
}

/**
 * {@link parseDate}, the same answers, faster for the common shapes: for decoding many rows
 * (streams). Kept apart so the core edge bundle stays small.
 */
export function parseDateFast(text: string): Date | number | null {
  const time = parseIsoLike(text)
  return time === undefined ? parseDate(text) : new Date(time)
}

/**
 * A date, timestamp or timestamptz as a Date; `infinity` and `-infinity` as ±Infinity, as
 * node-postgres returns them; null for text it cannot read.
 */
export function parseDate(text: string): Date | number | null {
  if (/^-?infinity$/.test(text)) return text[0] === '-' ? -Infinity : Infinity
  const m = DATE_TIME.exec(text)
  if (!m) return null
  const n = (i: number): number => Number(m[i] ?? 0)
  // Year 1 BC is year 0 of a JS Date, 2 BC is -1, and so on.
  const year = m[12] ? 1 - n(1) : n(1)
  const parts = [year, n(2) - 1, n(3), n(4), n(5), n(6), 1000 * n(7)] as const
  const utc = m[8] !== undefined
  const date = utc ? new Date(Date.UTC(...parts)) : new Date(...parts)
  // The multi-argument Date constructor reads years 0–99 as 1900–1999.
  if (year >= 0 && year < 100) {
    if (utc) date.setUTCFullYear(year)
    else date.setFullYear(year)
  }
  if (utc)
    date.setTime(
      date.getTime() - (m[8] === '-' ? -1000 : 1000) * (n(9) * 3600 + n(10) * 60 + n(11)),
    )
  return date
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0')

/**
 * A Date as PostgreSQL input text in the runtime's local time with its offset, e.g.
 * `2026-11-24T13:12:00.123+01:00` (node-postgres's `dateToString`).
 */
export function formatDate(date: Date): string {
  if (Number.isNaN(date.getTime())) throw new TypeError('cannot send an invalid Date')
  const offset = -date.getTimezoneOffset()
  const abs = Math.abs(offset)
  const year = date.getFullYear()
  return (
    `${pad(year < 1 ? 1 - year : year, 4)}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}` +
    `.${pad(date.getMilliseconds(), 3)}${offset < 0 ? '-' : '+'}` +
    `${pad(Math.floor(abs / 60))}:${pad(abs % 60)}${year < 1 ? ' BC' : ''}`
  )
}
