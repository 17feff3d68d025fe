/**
 * The scale section of bench/RESULTS.md (issue 17): Sluice with 1, 2 (and more) workers
 * beside PgBouncer and the bare Node hop, the CPU each spends per request, node:cluster's
 * two scheduling policies, and the projection to bigger hosts with its assumptions.
 */
import { formatMs } from '../lib/stats.js'
import { project, type ScaleResult, type ScaleRun } from '../scenarios/scale.js'
import { rate, ratio, type TargetVerdict } from './format.js'

const us = (n: number) => `${n.toFixed(1)} µs`

function pick(r: ScaleResult, system: ScaleRun['system'], workers?: number, policy?: string) {
  return r.runs.find(
    (run) =>
      run.system === system &&
      (workers === undefined || (run.workers ?? 1) === workers) &&
      (policy === undefined || (run.policy ?? 'rr') === policy),
  )
}

function name(run: ScaleRun): string {
  if (run.system !== 'Sluice (wrk)') return run.system
  const workers = run.workers ?? 1
  const policy =
    run.policy === 'none' ? ', workers accept (SCHED_NONE)' : workers > 1 ? ', round-robin' : ''
  return `**Sluice, ${workers} worker${workers === 1 ? '' : 's'}${policy}**`
}

/** Issue 17's targets, judged on this run. */
export function scaleVerdicts(r: ScaleResult): TargetVerdict[] {
  const out: TargetVerdict[] = []
  const bouncer = pick(r, 'PgBouncer (pgbench)')
  const minimal = pick(r, 'minimal Node HTTP + pg.Pool (wrk)')
  const one = pick(r, 'Sluice (wrk)', 1)
  const two = pick(r, 'Sluice (wrk)', 2, 'rr')
  if (minimal && one) {
    const x = one.cpuUsPerRequest / minimal.cpuUsPerRequest
    out.push({
      target: "c=64 SELECT 1: Sluice's CPU per request within 10% of the bare Node hop's",
      measured: `${ratio(x)} (${us(one.cpuUsPerRequest)} vs ${us(minimal.cpuUsPerRequest)})`,
      met: x <= 1.1,
      gap: x <= 1.1 ? '' : `${us(one.cpuUsPerRequest - 1.1 * minimal.cpuUsPerRequest)} over`,
    })
  }
  if (one && two) {
    const scaling = two.rps / (2 * one.rps)
    const free = r.nproc >= 2 + 2 // two workers, plus PostgreSQL and the load generator
    out.push({
      target: '≥ 0.8× linear scaling per worker while cores are free (1 → 2 workers)',
      measured: `${ratio(scaling)} (${rate(one.rps)} → ${rate(two.rps)} req/s)${free ? '' : `; cores were not free: ${r.nproc} cores for the workers, PostgreSQL and wrk`}`,
      met: scaling >= 0.8,
      gap:
        scaling >= 0.8
          ? ''
          : free
            ? `${ratio(scaling / 0.8)} of the target`
            : 'not measurable on this host',
    })
  }
  if (bouncer) {
    const best = [...r.runs]
      .filter((run) => run.system === 'Sluice (wrk)')
      .sort((a, b) => b.rps - a.rps)[0]
    const eight = project(r, [8])[0]
    if (r.nproc >= 4 && best) {
      const x = best.rps / bouncer.rps
      out.push({
        target: "c=64 SELECT 1: Sluice ≥ 1.0× PgBouncer's req/s on a host with ≥ 4 cores",
        measured: `${ratio(x)} (${rate(best.rps)} vs ${rate(bouncer.rps)} req/s, ${best.workers ?? 1} workers)`,
        met: x >= 1,
        gap: x >= 1 ? '' : `${rate(bouncer.rps - best.rps)} req/s short`,
      })
    } else if (eight) {
      const x = eight.sluice / eight.pgbouncerOne
      out.push({
        target: "c=64 SELECT 1: Sluice ≥ 1.0× PgBouncer's req/s on a host with ≥ 4 cores",
        measured: `not measurable on ${r.nproc} cores; projected on 8 cores: ${rate(eight.sluice)} vs ${rate(eight.pgbouncerOne)} req/s (${ratio(x)} of one PgBouncer process)`,
        met: x >= 1,
        gap: x >= 1 ? '' : 'projected short',
      })
    }
  }
  return out
}

/** The section of RESULTS.md. */
export function scaleSection(results: {
  scale?: ScaleResult | undefined
  settings: { throughputSeconds: number }
}): string {
  const r = results.scale
  if (!r) return '## Workers and CPU per request\n\nNot measured in this run.\n'
  const bouncer = pick(r, 'PgBouncer (pgbench)')
  const rows = r.runs.map(
    (run) =>
      `| ${name(run)} | ${rate(run.rps)}${run.errors > 0 ? ` (${run.errors} errors)` : ''} | ${formatMs(run.p50)} | ${formatMs(run.p99)} | ${us(run.cpuUsPerRequest)} | ${run.cores.toFixed(2)} | ${ratio(bouncer ? run.rps / bouncer.rps : Number.NaN)} | ${ratio(bouncer ? bouncer.cpuUsPerRequest / run.cpuUsPerRequest : Number.NaN)} |`,
  )
  const cores = [...new Set([r.nproc, 8, 16])].sort((a, b) => a - b)
  const projection = project(r, cores).map(
    (p) =>
      `| ${p.cores} | ${rate(p.sluice)} | ${rate(p.pgbouncerOne)} | ${rate(p.pgbouncerPerCore)} | ${ratio(p.sluice / p.pgbouncerOne)} | ${ratio(p.sluice / p.pgbouncerPerCore)} |`,
  )
  return `## Workers and CPU per request

\`SELECT 1\` at concurrency 64 (wrk \`-t 1\`, or pgbench \`-M extended -j 1\` for PgBouncer), ${results.settings.throughputSeconds} s after a 1 s
warm-up, ${r.nproc} cores. *CPU per request* is the user + system time of every process of
the system (Sluice's primary and workers, PgBouncer's one process, the bare hop's) from
/proc over the run, divided by the requests served; *cores* is that CPU time over the wall
time. *Efficiency* is PgBouncer's CPU per query over the system's CPU per request: the
share of PgBouncer's per-core throughput it reaches. With 2 workers Sluice runs both of
node:cluster's policies: *round-robin* (the default: the primary accepts each connection and
hands it to the workers in turn) and *workers accept* (\`NODE_CLUSTER_SCHED_POLICY=none\`:
each worker accepts on the shared socket, as the kernel wakes it).

| system | req/s | p50 | p99 | CPU per request | cores | × PgBouncer req/s | efficiency |
| --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join('\n')}

### Projection to bigger hosts

Requests per second each system could serve if every core of the host did nothing but
serve it at the CPU per request measured above (Sluice: its run with the most workers, one
worker per core). Assumptions: PostgreSQL and the clients run on other hosts (here they
share the cores, which is why the measured req/s are lower); the CPU per request stays what
it is here as cores are added (no lock or cache contention, the kernel's network stack
scales, keep-alive clients spread over the workers); the cores are the same as this host's.
PgBouncer in one process uses one core at most; *per core* is one PgBouncer process per core
sharing the port with \`so_reuseport\` (its connection pools are then per process, as
Sluice's workers' shares are).

| cores | Sluice (a worker per core) | PgBouncer, one process | PgBouncer, one per core | Sluice × one PgBouncer | Sluice × PgBouncer per core |
| --- | --- | --- | --- | --- | --- |
${projection.join('\n')}
`
}
