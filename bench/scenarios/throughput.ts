/**
 * Throughput at fixed concurrency: in-process pg.Pool (the floor: no hop at all), pgbench
 * through PgBouncer, and wrk through Sluice, for `SELECT 1` and an indexed point query.
 * Each run is bounded by time; a short warm-up run comes first and is not counted.
 */
import pg from 'pg'
import { startMinimalServer } from '../lib/minimal-server.js'
import { pgbench } from '../lib/pgbench.js'
import { ITEM_ROWS, POINT_SQL } from '../lib/postgres.js'
import { percentile } from '../lib/stats.js'
import { runWrk } from '../lib/wrk.js'

/** The two workloads. */
export type Workload = 'SELECT 1' | 'point query'

/** Who serves the queries. */
export type System =
  | 'in-process pg.Pool'
  | 'PgBouncer (pgbench)'
  | 'minimal Node HTTP + pg.Pool (wrk)'
  | 'Sluice (wrk)'

/** One measured run. */
export interface ThroughputRun {
  system: System
  workload: Workload
  concurrency: number
  rps: number
  p50: number
  p99: number
  errors: number
}

/** Where the contenders are. */
export interface ThroughputTargets {
  databaseUrl: string
  pgbouncerUrl: string
  gatewayUrl: string
  token: string
  poolSize: number
}

const WORKLOADS: Workload[] = ['SELECT 1', 'point query']

async function inProcess(
  url: string,
  poolSize: number,
  workload: Workload,
  concurrency: number,
  seconds: number,
): Promise<ThroughputRun> {
  const pool = new pg.Pool({ connectionString: url, max: Math.min(poolSize, concurrency) })
  const once = () =>
    workload === 'SELECT 1'
      ? pool.query('SELECT 1')
      : pool.query(POINT_SQL, [1 + Math.floor(Math.random() * ITEM_ROWS)])
  const loop = async (until: number, samples: number[] | undefined, errors: { n: number }) => {
    while (performance.now() < until) {
      const start = performance.now()
      try {
        await once()
        samples?.push(performance.now() - start)
      } catch {
        errors.n++
      }
    }
  }
  const errors = { n: 0 }
  const warmUntil = performance.now() + 1000
  await Promise.all(Array.from({ length: concurrency }, () => loop(warmUntil, undefined, errors)))
  errors.n = 0
  const samples: number[] = []
  const started = performance.now()
  const until = started + seconds * 1000
  await Promise.all(Array.from({ length: concurrency }, () => loop(until, samples, errors)))
  const elapsed = (performance.now() - started) / 1000
  await pool.end()
  samples.sort((a, b) => a - b)
  return {
    system: 'in-process pg.Pool',
    workload,
    concurrency,
    rps: samples.length / elapsed,
    p50: percentile(samples, 50),
    p99: percentile(samples, 99),
    errors: errors.n,
  }
}

async function bouncer(
  url: string,
  workload: Workload,
  concurrency: number,
  seconds: number,
): Promise<ThroughputRun> {
  const result = await pgbench(url, workload, 'extended', concurrency, seconds)
  return {
    system: 'PgBouncer (pgbench)',
    workload,
    concurrency,
    rps: result.tps,
    p50: result.p50,
    p99: result.p99,
    errors: result.errors,
  }
}

/** The Lua expression of a workload's request body. */
function wrkBody(workload: Workload): string {
  return workload === 'SELECT 1'
    ? `'${JSON.stringify({ sql: 'SELECT 1' })}'`
    : `'{"sql":"${POINT_SQL}","params":[' .. math.random(1, ${ITEM_ROWS}) .. ']}'`
}

/** Runs wrk against Sluice; exported for the profile run. */
export async function wrk(
  gatewayUrl: string,
  token: string,
  workload: Workload,
  concurrency: number,
  seconds: number,
  warmUp = true,
  system: System = 'Sluice (wrk)',
): Promise<ThroughputRun> {
  const measured = await runWrk(gatewayUrl, token, wrkBody(workload), concurrency, seconds, warmUp)
  return { system, workload, ...measured }
}

/** Every system × workload × concurrency. */
export async function runThroughput(
  targets: ThroughputTargets,
  concurrencies: readonly number[],
  seconds: number,
  log: (line: string) => void,
): Promise<ThroughputRun[]> {
  const runs: ThroughputRun[] = []
  const minimal = await startMinimalServer(targets.databaseUrl, targets.poolSize)
  try {
    for (const workload of WORKLOADS) {
      for (const concurrency of concurrencies) {
        const group = [
          await inProcess(targets.databaseUrl, targets.poolSize, workload, concurrency, seconds),
          await bouncer(targets.pgbouncerUrl, workload, concurrency, seconds),
          await wrk(
            minimal.url,
            '-',
            workload,
            concurrency,
            seconds,
            true,
            'minimal Node HTTP + pg.Pool (wrk)',
          ),
          await wrk(targets.gatewayUrl, targets.token, workload, concurrency, seconds),
        ]
        for (const r of group) {
          log(
            `throughput ${r.workload} c=${r.concurrency} ${r.system}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50.toFixed(3)} ms, p99 ${r.p99.toFixed(3)} ms, ${r.errors} errors`,
          )
        }
        runs.push(...group)
      }
    }
  } finally {
    await minimal.close()
  }
  return runs
}
