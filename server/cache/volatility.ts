/**
 * The rules that make a relation or a routine safe for the cache: which reads may be
 * remembered (immutable functions, a few built-ins that depend only on the session's
 * settings; tables, partitioned tables, views and materialized views outside the system
 * catalogs), and which volatile built-ins change no table when a statement calls them.
 */
import type { RelationRow, RoutineRow } from './catalog-query.js'

/**
 * Built-in volatile functions that change no table: chance, the clock, sequences (never
 * cached themselves), sleeping, advisory locks, settings and notifications (reset with the
 * session). Any other volatile function may write anywhere.
 */
const HARMLESS_VOLATILE = new Set([
  'random',
  'random_normal',
  'gen_random_uuid',
  'uuidv4',
  'uuidv7',
  'clock_timestamp',
  'timeofday',
  'nextval',
  'setval',
  'currval',
  'lastval',
  'pg_sleep',
  'pg_sleep_for',
  'pg_sleep_until',
  'txid_current',
  'pg_current_xact_id',
  'set_config',
  'setseed',
  'pg_notify',
])

/**
 * Built-in stable functions whose result depends only on the session's settings (time
 * zone, date style), which the cache key holds, and never on the clock or other data.
 */
const SETTINGS_ONLY = new Set([
  'concat',
  'concat_ws',
  'format',
  'to_char',
  'to_date',
  'to_number',
  'to_timestamp',
  'date_part',
  'extract',
  'date_trunc',
  'timezone',
  'generate_series',
])

const SYSTEM_SCHEMA = /^(pg_catalog|information_schema|pg_toast)/

/** A built-in function that runs a data-changing statement no more than reading does. */
export function harmlessVolatile(row: RoutineRow): boolean {
  return (
    row.schema === 'pg_catalog' &&
    (HARMLESS_VOLATILE.has(row.name) || /^pg_(try_)?advisory_/.test(row.name))
  )
}

/** Why reading `row` cannot be cached, or undefined. */
export function readBlock(row: RelationRow): string | undefined {
  const name = `${row.schema}.${row.name}`
  if (SYSTEM_SCHEMA.test(row.schema)) return 'it reads the system catalog'
  if (row.temp) return 'it reads a temporary table'
  if (row.rls) return `${name} has row-level security`
  if (row.inherits) return `${name} takes part in table inheritance`
  if (row.kind === 'f') return 'it reads a foreign table'
  if (row.kind === 'S') return 'it reads a sequence'
  if (!'rpvm'.includes(row.kind)) return `it reads a relation of kind ${row.kind}`
  return undefined
}

/** Why a call of `row` makes a read uncacheable, or undefined. */
export function routineReadBlock(row: RoutineRow): string | undefined {
  if (row.volatility === 'i') return undefined
  if (row.volatility === 's' && row.schema === 'pg_catalog' && SETTINGS_ONLY.has(row.name))
    return undefined
  return `${row.schema}.${row.name}() is ${row.volatility === 'v' ? 'volatile' : 'stable'}`
}
