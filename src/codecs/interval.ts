/**
 * PostgreSQL intervals (default `postgres` IntervalStyle output, e.g.
 * `1 year 2 mons -3 days 04:05:06.789`) as node-postgres's postgres-interval reads them:
 * an object with only the non-zero parts.
 */

const PARTS = ['years', 'months', 'days', 'hours', 'minutes', 'seconds', 'milliseconds'] as const
const INTERVAL =
  /(?:([+-]?\d+) years? ?)?(?:([+-]?\d+) mons? ?)?(?:([+-]?\d+) days? ?)?(?:([+-]?\d*):(\d\d):(\d\d)\.?(\d{1,6})?)?/

/**
 * An interval's parts; absent parts are zero (declared, not initialised, so an object holds
 * only the parts it has). `toPostgres()` makes it a parameter again.
 */
export class Interval {
  declare years?: number
  declare months?: number
  declare days?: number
  declare hours?: number
  declare minutes?: number
  declare seconds?: number
  /** Fractional seconds in milliseconds (microsecond precision). */
  declare milliseconds?: number

  constructor(text = '') {
    // Every part is optional: the expression matches any text.
    const m = INTERVAL.exec(text)!
    // The sign of the hours applies to minutes, seconds and the fraction too.
    const sign = m[4]?.[0] === '-' ? -1 : 1
    const values = m.slice(1, 7).map((digits, i) => Number(digits) * (i > 3 ? sign : 1))
    values.push((sign * Number((m[7] ?? '').padEnd(6, '0'))) / 1000)
    PARTS.forEach((part, i) => {
      if (values[i]) this[part] = values[i]
    })
  }

  /** PostgreSQL input text, e.g. `1 years -3 days 4 hours 789 milliseconds`. */
  toPostgres(): string {
    return (
      Object.entries(this)
        .map(([part, value]) => `${value} ${part}`)
        .join(' ') || '0'
    )
  }
}

/**
 * Parses interval output (as node-postgres's default parser for OID 1186); `infinity` and
 * `-infinity` (PostgreSQL 17+) are ±Infinity, as for dates, rather than node-postgres's
 * empty (zero) interval.
 */
export function parseInterval(text: string): Interval | number {
  if (/^-?infinity$/.test(text)) return text[0] === '-' ? -Infinity : Infinity
  return new Interval(text)
}
