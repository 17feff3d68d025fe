/**
 * One pgbench run against any PostgreSQL-speaking endpoint (PostgreSQL, PgBouncer, Sluice's
 * TCP listener): a 1 s warm-up, then `seconds` of load; throughput from pgbench's own
 * report, latencies from its per-transaction log.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ITEM_ROWS, POINT_SQL } from './postgres.js'
import { percentile } from './stats.js'
import { run } from './system.js'

/** The statements pgbench sends. */
export type PgbenchWorkload = 'SELECT 1' | 'point query'

/** pgbench's query modes. */
export type PgbenchMode = 'extended' | 'prepared'

/** What one run measured. */
export interface PgbenchResult {
  tps: number
  /** Latencies in ms. */
  p50: number
  p99: number
  errors: number
}

/**
 * Runs pgbench against `url` (postgres://user:password@host:port/database); the point query
 * picks its id from 1 to `ids`.
 */
export async function pgbench(
  url: string,
  workload: PgbenchWorkload,
  mode: PgbenchMode,
  concurrency: number,
  seconds: number,
  ids = ITEM_ROWS,
): Promise<PgbenchResult> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-pgbench-'))
  try {
    const script = join(dir, 'script.sql')
    await writeFile(
      script,
      workload === 'SELECT 1'
        ? 'SELECT 1;\n'
        : `\\set id random(1, ${ids})\n${POINT_SQL.replace('$1', ':id')};\n`,
    )
    const parsed = new URL(url)
    const env = { ...process.env, PGPASSWORD: decodeURIComponent(parsed.password) }
    const base = [
      '-h',
      '127.0.0.1',
      '-p',
      parsed.port,
      '-U',
      decodeURIComponent(parsed.username),
      '-n',
      '-M',
      mode,
      '-f',
      script,
      '-c',
      String(concurrency),
      '-j',
      '1',
    ]
    const database = parsed.pathname.slice(1)
    await run('pgbench', [...base, '-T', '1', database], { env })
    const prefix = join(dir, 'tx')
    const output = await run(
      'pgbench',
      [...base, '-T', String(seconds), '-l', `--log-prefix=${prefix}`, database],
      { env, timeoutMs: (seconds + 60) * 1000 },
    )
    const latencies: number[] = []
    let errors = 0
    for (const file of await readdir(dir)) {
      if (!file.startsWith('tx')) continue
      for (const line of (await readFile(join(dir, file), 'utf8')).split('\n')) {
        const fields = line.split(' ')
        if (fields.length < 3) continue
        // client_id transaction_no time(µs) script_no epoch µs; time is "failed" on error
        const us = Number(fields[2])
        if (Number.isFinite(us)) latencies.push(us / 1000)
        else errors++
      }
    }
    latencies.sort((a, b) => a - b)
    const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(output)
    return {
      tps: tps ? Number(tps[1]) : latencies.length / seconds,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      errors,
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
