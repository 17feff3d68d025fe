/**
 * The query cache (issue 18), on a gateway of its own with two tenants on the bench database:
 * `plain` (cache off) and `cached` (cache on).
 *
 * - Reads: the indexed point query over a hot set of ids, at c=64 and c=1: PgBouncer
 *   uncached (pgbench), Sluice uncached (wrk, tenant `plain`), Sluice cached (wrk, tenant
 *   `cached`, every request with `"cache"`), and in-process pg.Pool (the c=1 floor); then the
 *   cached reads at c=64 again on a node of two workers.
 * - Writes: an uncached point UPDATE through `plain` and through `cached` (whose writes
 *   publish their invalidation and wait for it), with one gateway process and with two.
 * - External writes: with `sluice cache install-triggers`' triggers on a probe table, the
 *   time from an outside UPDATE's commit to the first read that sees it.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { installTriggers } from '../../server/cache/triggers.js'
import type { ConfigInput } from '../../server/config/schema.js'
import { startGateway, type BenchGateway } from '../lib/gateway.js'
import { pgbench } from '../lib/pgbench.js'
import { ITEM_ROWS, POINT_SQL } from '../lib/postgres.js'
import { percentile, summarize, type LatencySummary } from '../lib/stats.js'
import { runWrk } from '../lib/wrk.js'

/** Ids the reads pick from: every one is cached after the warm-up. */
export const HOT_IDS = 1000

/** Who served a cache run. */
export type CacheSystem =
  | 'in-process pg.Pool'
  | 'PgBouncer, uncached (pgbench)'
  | 'Sluice, uncached (wrk)'
  | 'Sluice, cached (wrk)'
  | 'Sluice, cached, 2 workers (wrk)'
  | 'Sluice, tenant without cache (wrk)'
  | 'Sluice, cache-enabled tenant (wrk)'
  | 'Sluice, cache-enabled tenant, 2 processes (wrk)'

/** One measured run. */
export interface CacheRun {
  system: CacheSystem
  workload: 'point read' | 'point update'
  concurrency: number
  rps: number
  p50: number
  p99: number
  errors: number
  /** Share of answers with `Sluice-Cache: hit` (cached reads only). */
  hitRatio?: number
}

/** Everything the cache scenario measured. */
export interface CacheResult {
  hotIds: number
  reads: CacheRun[]
  writes: CacheRun[]
  /** Outside write's commit → first read that sees it, through the triggers (ms). */
  delivery: LatencySummary
}

/** What the scenario needs. */
export interface CacheTargets {
  databaseUrl: string
  pgbouncerUrl: string
  poolSize: number
}

const UPDATE_SQL = 'update items set score = score + 1 where id = $1'

function config(databaseUrl: string, poolSize: number, plain: string, cached: string): ConfigInput {
  const tenant = (token: string, cache: boolean) => ({
    // The bench database's superuser: accepted here, as in bench/run.ts.
    allowPrivilegedRole: true,
    connection: { url: databaseUrl },
    pool: { min: poolSize / 2, max: poolSize / 2 },
    tokens: [{ token }],
    session: { applicationName: 'sluice-bench-cache' },
    cache: { enabled: cache },
  })
  return {
    // Every gateway of the scenario (one config, several processes) shares the key that
    // signs the cache channel's messages, as a deployment's processes must (docs/cache.md).
    server: { log: { level: 'warn' }, cacheSecret: randomBytes(32).toString('base64url') },
    tenants: { plain: tenant(plain, false), cached: tenant(cached, true) },
  }
}

/** The point read over the hot ids, in-process: the c=1 floor. */
async function inProcess(url: string, seconds: number): Promise<CacheRun> {
  const pool = new pg.Pool({ connectionString: url, max: 1 })
  const once = () => pool.query(POINT_SQL, [1 + Math.floor(Math.random() * HOT_IDS)])
  const warm = performance.now() + 1000
  while (performance.now() < warm) await once()
  const samples: number[] = []
  const started = performance.now()
  const until = started + seconds * 1000
  while (performance.now() < until) {
    const start = performance.now()
    await once()
    samples.push(performance.now() - start)
  }
  const elapsed = (performance.now() - started) / 1000
  await pool.end()
  samples.sort((a, b) => a - b)
  return {
    system: 'in-process pg.Pool',
    workload: 'point read',
    concurrency: 1,
    rps: samples.length / elapsed,
    p50: percentile(samples, 50),
    p99: percentile(samples, 99),
    errors: 0,
  }
}

/** Share of hits over `n` sequential cached reads of random hot ids. */
async function hitRatio(url: string, token: string, n: number): Promise<number> {
  let hits = 0
  for (let i = 0; i < n; i++) {
    const response = await fetch(`${url}/v1/query`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        sql: POINT_SQL,
        params: [1 + Math.floor(Math.random() * HOT_IDS)],
        cache: { ttlMs: 3_600_000 },
      }),
    })
    await response.text()
    if (response.headers.get('sluice-cache') === 'hit') hits++
  }
  return hits / n
}

/** Outside write → first read that sees it, `rounds` times, through the triggers. */
async function deliveryTimes(
  databaseUrl: string,
  gateway: BenchGateway,
  token: string,
  rounds: number,
): Promise<LatencySummary> {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  const samples: number[] = []
  try {
    await client.query(`create schema if not exists probe;
      create table if not exists probe.kv (k int primary key, v int not null);
      insert into probe.kv values (1, 0) on conflict (k) do update set v = 0`)
    await installTriggers(client, ['probe'])
    const read = async () => {
      const response = await fetch(`${gateway.url}/v1/query`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ sql: 'select v from probe.kv where k = 1', cache: {} }),
      })
      const body = (await response.json()) as { rows: string[][] }
      return Number(body.rows[0]![0])
    }
    for (let value = 1; value <= rounds; value++) {
      await read()
      await read()
      await client.query('update probe.kv set v = $1 where k = 1', [value])
      const committed = performance.now()
      const deadline = committed + 5000
      while ((await read()) !== value) {
        if (performance.now() > deadline)
          throw new Error('an outside write never reached the cache')
      }
      samples.push(performance.now() - committed)
    }
    await client.query('drop schema probe cascade')
  } finally {
    await client.end()
  }
  return summarize(samples)
}

/** Runs the cache scenario. */
export async function runCache(
  targets: CacheTargets,
  seconds: number,
  quick: boolean,
  log: (line: string) => void,
): Promise<CacheResult> {
  const plain = `plain-${Math.random().toString(36).slice(2)}-token`
  const cached = `cached-${Math.random().toString(36).slice(2)}-token`
  const gatewayConfig = config(targets.databaseUrl, targets.poolSize, plain, cached)
  const gateway = await startGateway(gatewayConfig)
  const reads: CacheRun[] = []
  const writes: CacheRun[] = []
  let delivery: LatencySummary
  const say = (r: CacheRun) =>
    log(
      `cache ${r.workload} c=${r.concurrency} ${r.system}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50.toFixed(3)} ms, p99 ${r.p99.toFixed(3)} ms, ${r.errors} errors${r.hitRatio === undefined ? '' : `, ${(r.hitRatio * 100).toFixed(1)}% hits`}`,
    )
  try {
    const id = `math.random(1, ${HOT_IDS})`
    const uncachedBody = `'{"sql":"${POINT_SQL}","params":[' .. ${id} .. ']}'`
    const cachedBody = `'{"sql":"${POINT_SQL}","params":[' .. ${id} .. '],"cache":{"ttlMs":3600000}}'`
    // Every hot id cached before the measured runs.
    await runWrk(gateway.url, cached, cachedBody, 16, 2)
    for (const concurrency of quick ? [64, 1] : [64, 1]) {
      const group: CacheRun[] = []
      if (concurrency === 1) group.push(await inProcess(targets.databaseUrl, seconds))
      const bouncer = await pgbench(
        targets.pgbouncerUrl,
        'point query',
        'extended',
        concurrency,
        seconds,
        HOT_IDS,
      )
      group.push({
        system: 'PgBouncer, uncached (pgbench)',
        workload: 'point read',
        concurrency,
        rps: bouncer.tps,
        p50: bouncer.p50,
        p99: bouncer.p99,
        errors: bouncer.errors,
      })
      group.push({
        system: 'Sluice, uncached (wrk)',
        workload: 'point read',
        ...(await runWrk(gateway.url, plain, uncachedBody, concurrency, seconds)),
      })
      group.push({
        system: 'Sluice, cached (wrk)',
        workload: 'point read',
        ...(await runWrk(gateway.url, cached, cachedBody, concurrency, seconds)),
        hitRatio: await hitRatio(gateway.url, cached, 500),
      })
      for (const r of group) say(r)
      reads.push(...group)
    }
    // The same cached reads on a node of two workers (server.workers), each with a cache of
    // its own, warmed through both: what issue 17's workers give a hit-heavy tenant.
    const node = await startGateway({
      ...gatewayConfig,
      server: { ...gatewayConfig.server, workers: 2 },
    })
    try {
      await runWrk(node.url, cached, cachedBody, 16, 2)
      const r: CacheRun = {
        system: 'Sluice, cached, 2 workers (wrk)',
        workload: 'point read',
        ...(await runWrk(node.url, cached, cachedBody, 64, seconds)),
        hitRatio: await hitRatio(node.url, cached, 500),
      }
      say(r)
      reads.push(r)
    } finally {
      await node.stop()
    }

    const update = `'{"sql":"${UPDATE_SQL}","params":[' .. math.random(1, ${ITEM_ROWS}) .. ']}'`
    for (const concurrency of [1, 16]) {
      for (const [system, token] of [
        ['Sluice, tenant without cache (wrk)', plain],
        ['Sluice, cache-enabled tenant (wrk)', cached],
      ] as const) {
        const r: CacheRun = {
          system,
          workload: 'point update',
          ...(await runWrk(gateway.url, token, update, concurrency, seconds)),
        }
        say(r)
        writes.push(r)
      }
    }
    // A second process on the same database: every write now waits for its ack.
    const second = await startGateway(gatewayConfig)
    try {
      for (const concurrency of [1, 16]) {
        const r: CacheRun = {
          system: 'Sluice, cache-enabled tenant, 2 processes (wrk)',
          workload: 'point update',
          ...(await runWrk(gateway.url, cached, update, concurrency, seconds)),
        }
        say(r)
        writes.push(r)
      }
    } finally {
      await second.stop()
    }

    delivery = await deliveryTimes(targets.databaseUrl, gateway, cached, quick ? 50 : 300)
    log(
      `cache: outside write → visible through the triggers: p50 ${delivery.p50.toFixed(3)} ms, p99 ${delivery.p99.toFixed(3)} ms, max ${delivery.max.toFixed(3)} ms (${delivery.count} writes)`,
    )
  } finally {
    await gateway.stop()
  }
  return { hotIds: HOT_IDS, reads, writes, delivery }
}
