/**
 * The PostgreSQL protocol (issue 19): pgbench, `-M extended` and `-M prepared`, straight to
 * PostgreSQL (the floor), through PgBouncer in transaction mode and through Sluice's TCP
 * listener, both pooling onto the same number of backends, at each concurrency, in turn in
 * the same run. The point query on 100k rows, as in the throughput scenario.
 */
import { processCpuSeconds } from '../lib/cpu.js'
import { pgbench, type PgbenchMode } from '../lib/pgbench.js'

/** Who serves pgbench. */
export type WireSystem = 'PostgreSQL (direct)' | 'PgBouncer' | 'Sluice'

/** One pgbench run. */
export interface WireRun {
  system: WireSystem
  mode: PgbenchMode
  concurrency: number
  tps: number
  p50: number
  p99: number
  errors: number
  /**
   * The pooler's own CPU per transaction (utime + stime of PgBouncer's or the gateway's
   * process over the warm-up and the run, divided by tps × their seconds); none for direct.
   */
  cpuUsPerTx?: number
}

/** Where the contenders listen (URLs hold passwords and the token: never print them). */
export interface WireTargets {
  databaseUrl: string
  pgbouncerUrl: string
  /** postgres://<tenant>:<token>@127.0.0.1:<pgPort>/<tenant> */
  gatewayUrl: string
  pgbouncerPid: number
  gatewayPid: number
}

/** Every system × mode × concurrency. */
export async function runWire(
  targets: WireTargets,
  concurrencies: readonly number[],
  seconds: number,
  log: (line: string) => void,
): Promise<WireRun[]> {
  const runs: WireRun[] = []
  const systems: [WireSystem, string, number | undefined][] = [
    ['PostgreSQL (direct)', targets.databaseUrl, undefined],
    ['PgBouncer', targets.pgbouncerUrl, targets.pgbouncerPid],
    ['Sluice', targets.gatewayUrl, targets.gatewayPid],
  ]
  for (const mode of ['extended', 'prepared'] as const) {
    for (const concurrency of concurrencies) {
      for (const [system, url, pid] of systems) {
        const cpuBefore = pid === undefined ? 0 : processCpuSeconds(pid)
        // PgBouncer 1.18 in transaction mode cannot keep -M prepared's statements: its
        // clients abort. That is a result too, not a reason to stop the bench.
        const result = await pgbench(url, 'point query', mode, concurrency, seconds).catch(
          (error: unknown) => {
            log(`wire -M ${mode} c=${concurrency} ${system} failed: ${String(error).slice(0, 300)}`)
            return { tps: 0, p50: Number.NaN, p99: Number.NaN, errors: -1 }
          },
        )
        const r: WireRun = { system, mode, concurrency, ...result }
        // pgbench() runs a 1 s warm-up before the measured seconds, at about the same rate.
        if (pid !== undefined && result.tps > 0)
          r.cpuUsPerTx = ((processCpuSeconds(pid) - cpuBefore) * 1e6) / (result.tps * (seconds + 1))
        const cpu = r.cpuUsPerTx === undefined ? '' : `, ${r.cpuUsPerTx.toFixed(1)} µs CPU per tx`
        log(
          `wire -M ${mode} c=${concurrency} ${system}: ${r.tps.toFixed(0)} tps, p50 ${r.p50.toFixed(3)} ms, p99 ${r.p99.toFixed(3)} ms, ${r.errors} errors${cpu}`,
        )
        runs.push(r)
      }
    }
  }
  return runs
}
