/**
 * Dates and timestamps both ways, as node-postgres does: its `postgres-date` parser for
 * date/timestamp/timestamptz output (ISO DateStyle), and its `dateToString` for Date
 * parameters. Both use the runtime's local time zone where PostgreSQL gives no offset, so
 * a `timestamp` (without time zone) round-trips in the same runtime.
 */

// date | timestamp | timestamptz (offset ±hh[:mm[:ss]]), each optionally BC.
const DATE_TIME =
  /^(\d+)-(\d\d)-(\d\d)(?: (\d\d):(\d\d):(\d\d)(\.\d+)?(?:([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?)?)?( BC)?$/

/** The character at `i` of `text` minus '0': a digit's value, out of 0–9 (or NaN) for others. */
const digit = (text: string, i: number): number => text.charCodeAt(i) - 48

/** Digits `text[from, to)` as a number, or -1 when one of them is not a digit. */
function digits(text: string, from: number, to: number): number {
  let n = 0
  for (let i = from; i < to; i++) {
    const d = digit(text, i)
    if (!(d >= 0 && d <= 9)) return -1
    n = n * 10 + d
  }
  return n
}

/**
 * {@link parseDate}, the same answers, faster for the common shapes: for decoding many rows
 * (streams), where the general parser's regular expression is most of a row's cost. Reads
 * `YYYY-MM-DD HH:MM:SS[.ffffff][±HH[:MM]]` (years 100 and later, no BC) by its character
 * codes; every other shape takes {@link parseDate}. Kept apart so the core edge bundle stays
 * small.
 */
export function parseDateFast(text: string): Date | number | null {
  const length = text.length
  if (
    length < 19 ||
    text.charCodeAt(4) !== 45 || // -
    text.charCodeAt(7) !== 45 ||
    text.charCodeAt(10) !== 32 || // space
    text.charCodeAt(13) !== 58 || // :
    text.charCodeAt(16) !== 58
  )
    return parseDate(text)
  const year = digits(text, 0, 4)
  const month = digits(text, 5, 7)
  const day = digits(text, 8, 10)
  const hour = digits(text, 11, 13)
  const minute = digits(text, 14, 16)
  const second = digits(text, 17, 19)
  if (year < 100 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0)
    return parseDate(text)
  let i = 19
  let ms = 0
  if (i < length && text.charCodeAt(i) === 46) {
    // A fraction of 1 to 6 digits; a Date keeps whole milliseconds (the first three).
    const from = ++i
    while (i < length && i - from < 6 && digit(text, i) >= 0 && digit(text, i) <= 9) i++
    if (i === from) return parseDate(text)
    for (let k = from; k < from + 3; k++) ms = ms * 10 + (k < i ? digit(text, k) : 0)
  }
  if (i === length) return new Date(year, month - 1, day, hour, minute, second, ms)
  const sign = text.charCodeAt(i)
  if (sign !== 43 && sign !== 45) return parseDate(text)
  const offsetHours = digits(text, i + 1, i + 3)
  let offsetMinutes = 0
  if (i + 3 === length) offsetMinutes = 0
  else if (i + 6 === length && text.charCodeAt(i + 3) === 58) {
    offsetMinutes = digits(text, i + 4, i + 6)
  } else return parseDate(text)
  if (offsetHours < 0 || offsetMinutes < 0 || i + 3 > length) return parseDate(text)
  const offset = (sign === 45 ? -1 : 1) * (offsetHours * 60 + offsetMinutes) * 60_000
  if (month < 1 || month > 12) return parseDate(text)
  const time = hour * 3_600_000 + minute * 60_000 + second * 1000 + ms
  return new Date(daysFromCivil(year, month, day) * 86_400_000 + time - offset)
}

/**
 * Days from 1970-01-01 to a proleptic Gregorian date (month 1–12; days past the month's end
 * run on into the next, as in `Date.UTC`), by integer arithmetic alone (H. Hinnant's
 * `days_from_civil`), which is several times cheaper than `Date.UTC`.
 */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year
  const era = Math.floor(y / 400)
  const yearOfEra = y - era * 400
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1
  const dayOfEra =
    yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear
  return era * 146_097 + dayOfEra - 719_468
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
  const utc = m[8] !== undefined
  // Set field by field on a Date, which reads years 0–99 as they are (its constructor and
  // Date.UTC read them as 1900–1999).
  const date = new Date(0)
  if (utc) {
    const offset = (m[8] === '-' ? -1 : 1) * (n(9) * 3600 + n(10) * 60 + n(11))
    date.setUTCFullYear(year, n(2) - 1, n(3))
    date.setUTCHours(n(4), n(5), n(6) - offset, 1000 * n(7))
  } else {
    date.setFullYear(year, n(2) - 1, n(3))
    date.setHours(n(4), n(5), n(6), 1000 * n(7))
  }
  return date
}

/**
 * A Date as PostgreSQL input text in the runtime's local time with its offset to the second,
 * e.g. `2026-11-24T13:12:00.123+01:00:00` (node-postgres's `dateToString`, which drops the
 * offset's seconds).
 */
export function formatDate(date: Date): string {
  if (isNaN(+date)) throw new TypeError('cannot send an invalid Date')
  const year = date.getFullYear()
  // The offset from the local fields, not getTimezoneOffset(): that counts whole minutes,
  // and a zone's local mean time before standard time has seconds (New York's -04:56:02
  // until 1883), which pg's dateToString drops, shifting the instant.
  const local = new Date(0)
  local.setUTCFullYear(year, date.getMonth(), date.getDate())
  local.setUTCHours(date.getHours(), date.getMinutes(), date.getSeconds(), date.getMilliseconds())
  const offset = +local - +date
  // `local` holds the local fields as UTC: its ISO text ends in `-MM-DDThh:mm:ss.sssZ`,
  // whatever the year's width.
  return (
    String(year < 1 ? 1 - year : year).padStart(4, '0') +
    local.toISOString().slice(-20, -1) +
    (offset < 0 ? '-' : '+') +
    // hh:mm:ss of the offset (under a day).
    new Date(Math.abs(offset)).toISOString().slice(11, 19) +
    (year < 1 ? ' BC' : '')
  )
}
