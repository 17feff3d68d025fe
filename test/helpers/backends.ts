/**
 * How many backends PostgreSQL holds for someone while a load runs: a budget or a
 * CONNECTION LIMIT is checked where it matters, in pg_stat_activity, not in the gateway's
 * own counts.
 */
import pg from 'pg'
import { databaseUrl } from './gateway.js'

/**
 * Runs `load` while sampling, back to back, the backends whose `column` equals `value`;
 * resolves with the most seen at once and what `load` resolved with.
 */
export async function peakBackends<T>(
  column: 'application_name' | 'usename',
  value: string,
  load: () => Promise<T>,
): Promise<{ peak: number; result: T }> {
  const sampler = new pg.Client({ connectionString: databaseUrl() })
  await sampler.connect()
  let peak = 0
  let loading = true
  const sampling = (async () => {
    while (loading) {
      const { rows } = await sampler.query<{ n: number }>(
        `select count(*)::int as n from pg_stat_activity where ${column} = $1`,
        [value],
      )
      peak = Math.max(peak, rows[0]!.n)
    }
  })()
  let result: T
  try {
    result = await load()
  } finally {
    loading = false
    await sampling
    await sampler.end()
  }
  return { peak, result }
}
