/**
 * Past one core (issue 17): throughput of `SELECT 1` at concurrency 64 through Sluice with
 * 1 and 2 workers (and more with `--workers`), beside PgBouncer and the bare Node hop, with
 * the CPU each request costs every process involved: the gateway's primary and workers
 * (utime + stime from /proc), PgBouncer's one process, the bare hop's. From those, a
 * projection of throughput on bigger hosts, and the two scheduling policies of node:cluster
 * (the primary hands out connections in turn, or the workers accept on the shared socket).
 */
import type { ConfigInput } from '../../server/config/schema.js'
import { processCpuSeconds, treeCpuSeconds } from '../lib/cpu.js'
import { startGateway } from '../lib/gateway.js'
import { startMinimalServer } from '../lib/minimal-server.js'
import { pgbench } from '../lib/pgbench.js'
import { wrk, type ThroughputRun, type Workload } from './throughput.js'

/** One measured run. */
export interface ScaleRun extends Omit<ThroughputRun, 'system'> {
  system: 'PgBouncer (pgbench)' | 'minimal Node HTTP + pg.Pool (wrk)' | 'Sluice (wrk)'
  /** Sluice's worker processes. */
  workers?: number
  /** node:cluster's scheduling policy, for Sluice with workers. */
  policy?: 'rr' | 'none'
  /** CPU time (user + system, every process of the system) per request, µs. */
  cpuUsPerRequest: number
  /** CPU time over wall time during the run: how many cores it kept busy. */
  cores: number
}

/** What the scale scenario measured. */
export interface ScaleResult {
  runs: ScaleRun[]
  /** The host's cores (`nproc`). */
  nproc: number
}

/** Where the contenders are, and how to start gateways. */
export interface ScaleTargets {
  databaseUrl: string
  pgbouncerUrl: string
  pgbouncerPid: number
  /** The config of a bench gateway (its workers are set here). */
  gatewayConfig: ConfigInput
  token: string
  poolSize: number
}

/** Options of {@link runScale}. */
export interface ScaleOptions {
  /** Worker counts to measure (1 and 2, plus `--workers`). */
  workers: number[]
  seconds: number
  nproc: number
}

const CONCURRENCY = 64
const WORKLOAD: Workload = 'SELECT 1'

/** CPU seconds of `measure` over `run`, and the wall time it took. */
async function timed<T>(cpu: () => number, run: () => Promise<T>) {
  const cpu0 = cpu()
  const wall0 = performance.now()
  const result = await run()
  return { result, cpuSeconds: cpu() - cpu0, wallSeconds: (performance.now() - wall0) / 1000 }
}

/** Runs every contender once; a gateway per worker count (and per policy with 2 workers). */
export async function runScale(
  targets: ScaleTargets,
  options: ScaleOptions,
  log: (line: string) => void,
): Promise<ScaleResult> {
  const runs: ScaleRun[] = []
  const { seconds } = options
  const record = (run: ScaleRun) => {
    runs.push(run)
    log(
      `scale ${run.system}${run.workers ? ` ×${run.workers}${run.policy ? ` (${run.policy})` : ''}` : ''}: ${run.rps.toFixed(0)} req/s, ${run.cpuUsPerRequest.toFixed(1)} µs CPU per request, ${run.cores.toFixed(2)} cores, ${run.errors} errors`,
    )
  }

  // PgBouncer: its one process's CPU over pgbench's transactions (one statement each).
  {
    const { result, cpuSeconds, wallSeconds } = await timed(
      () => processCpuSeconds(targets.pgbouncerPid),
      () => pgbench(targets.pgbouncerUrl, WORKLOAD, 'extended', CONCURRENCY, seconds),
    )
    // pgbench runs a 1 s warm-up before its measured seconds: count both.
    const requests = result.tps * wallSeconds
    record({
      system: 'PgBouncer (pgbench)',
      workload: WORKLOAD,
      concurrency: CONCURRENCY,
      rps: result.tps,
      p50: result.p50,
      p99: result.p99,
      errors: result.errors,
      cpuUsPerRequest: (cpuSeconds * 1e6) / requests,
      cores: cpuSeconds / wallSeconds,
    })
  }

  // The bare hop, in this process: its CPU is this process's while wrk runs.
  const minimal = await startMinimalServer(targets.databaseUrl, targets.poolSize)
  try {
    const { result, cpuSeconds, wallSeconds } = await timed(
      () => {
        const usage = process.cpuUsage()
        return (usage.user + usage.system) / 1e6
      },
      () =>
        wrk(
          minimal.url,
          '-',
          WORKLOAD,
          CONCURRENCY,
          seconds,
          true,
          'minimal Node HTTP + pg.Pool (wrk)',
        ),
    )
    record({
      ...result,
      system: 'minimal Node HTTP + pg.Pool (wrk)',
      cpuUsPerRequest: (cpuSeconds * 1e6) / (result.rps * wallSeconds),
      cores: cpuSeconds / wallSeconds,
    })
  } finally {
    await minimal.close()
  }

  const cases: { workers: number; policy?: 'rr' | 'none' }[] = options.workers.flatMap((workers) =>
    workers === 2
      ? [
          { workers, policy: 'rr' as const },
          { workers, policy: 'none' as const },
        ]
      : [{ workers, ...(workers > 1 ? { policy: 'rr' as const } : {}) }],
  )
  for (const { workers, policy } of cases) {
    // Without the main gateway's pgPort, which it still holds.
    const { pgPort: _pgPort, ...server } = targets.gatewayConfig.server ?? {}
    const gateway = await startGateway(
      { ...targets.gatewayConfig, server: { ...server, workers } },
      policy ? { env: { NODE_CLUSTER_SCHED_POLICY: policy } } : {},
    )
    try {
      const { result, cpuSeconds, wallSeconds } = await timed(
        () => treeCpuSeconds(gateway.pid),
        () => wrk(gateway.url, targets.token, WORKLOAD, CONCURRENCY, seconds, true),
      )
      record({
        ...result,
        system: 'Sluice (wrk)',
        workers,
        ...(policy ? { policy } : {}),
        cpuUsPerRequest: (cpuSeconds * 1e6) / (result.rps * wallSeconds),
        cores: cpuSeconds / wallSeconds,
      })
    } finally {
      await gateway.stop()
    }
  }
  return { runs, nproc: options.nproc }
}

/** Throughput a system could reach on `cores` cores, from its CPU per request. */
export interface Projection {
  cores: number
  /** Sluice with one worker per core. */
  sluice: number
  /** PgBouncer: one process (one core at most). */
  pgbouncerOne: number
  /** PgBouncer: one process per core sharing the port (so_reuseport). */
  pgbouncerPerCore: number
}

/**
 * The projection: each system's requests per second if every core did nothing but serve
 * it at the CPU per request measured here (Sluice's from its run with the most workers on
 * the default policy). PgBouncer in one process is capped at one core.
 */
export function project(result: ScaleResult, cores: number[]): Projection[] {
  const bouncer = result.runs.find((r) => r.system === 'PgBouncer (pgbench)')
  const sluice = [...result.runs]
    .filter((r) => r.system === 'Sluice (wrk)' && r.policy !== 'none')
    .sort((a, b) => (b.workers ?? 1) - (a.workers ?? 1))[0]
  if (!bouncer || !sluice) return []
  return cores.map((n) => ({
    cores: n,
    sluice: (n * 1e6) / sluice.cpuUsPerRequest,
    pgbouncerOne: 1e6 / bouncer.cpuUsPerRequest,
    pgbouncerPerCore: (n * 1e6) / bouncer.cpuUsPerRequest,
  }))
}
