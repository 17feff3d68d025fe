/**
 * A connection storm: 1,000 invocations start at the same moment against a database with
 * max_connections = 100. Direct connections run out of slots; PgBouncer and Sluice queue
 * the work onto their few backends. The backends each opens are counted while it runs.
 */
import pg from 'pg'
import { fetchWithAgent } from '../lib/http-fetch.js'
import { createClient } from '../../edge/index.js'
import { ITEM_ROWS, POINT_SQL } from '../lib/postgres.js'
import { msSince, percentile } from '../lib/stats.js'

/** One contender's storm. */
export interface StormResult {
  method: 'direct pg' | 'PgBouncer' | 'Sluice (new HTTP connection each)'
  invocations: number
  successes: number
  errors: number
  /** The most common error, e.g. "sorry, too many clients already". */
  firstError: string | undefined
  p50: number
  p99: number
  /** The whole storm, first start to last answer (ms). */
  wallMs: number
  /** Most backends seen at once (pg_stat_activity, by application_name or user). */
  peakBackends: number
  /** The contender's own cap on backends, where it has one. */
  maxBackends: number | undefined
}

/** Where the contenders are. */
export interface StormTargets {
  databaseUrl: string
  pgbouncerUrl: string
  gatewayUrl: string
  token: string
  /** application_name the gateway's connections carry. */
  gatewayApplicationName: string
  gatewayMax: number
  pgbouncerPoolSize: number
}

const INVOCATION_TIMEOUT_MS = 30_000

function withTimeout<T>(work: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  return Promise.race([
    work,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timed out')), INVOCATION_TIMEOUT_MS)
    }),
  ]).finally(() => clearTimeout(timer))
}

async function directInvocation(url: string, applicationName: string): Promise<void> {
  const client = new pg.Client({
    connectionString: url,
    application_name: applicationName,
    connectionTimeoutMillis: INVOCATION_TIMEOUT_MS,
  })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.query(POINT_SQL, [1 + Math.floor(Math.random() * ITEM_ROWS)])
  } finally {
    await client.end().catch(() => {})
  }
}

async function storm(
  method: StormResult['method'],
  invocations: number,
  invoke: () => Promise<void>,
  countBackends: () => Promise<number>,
  maxBackends: number | undefined,
): Promise<StormResult> {
  let peak = 0
  let sampling = true
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, await countBackends())
      await new Promise((r) => setTimeout(r, 10))
    }
  })()
  const latencies: number[] = []
  const errorCounts = new Map<string, number>()
  const started = process.hrtime.bigint()
  await Promise.all(
    Array.from({ length: invocations }, async () => {
      const start = process.hrtime.bigint()
      try {
        await withTimeout(invoke())
        latencies.push(msSince(start))
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error)
        errorCounts.set(message, (errorCounts.get(message) ?? 0) + 1)
      }
    }),
  )
  const wallMs = msSince(started)
  sampling = false
  await sampler
  latencies.sort((a, b) => a - b)
  const errors = [...errorCounts.values()].reduce((a, b) => a + b, 0)
  const firstError = [...errorCounts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0]
  return {
    method,
    invocations,
    successes: latencies.length,
    errors,
    firstError,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    wallMs,
    peakBackends: peak,
    maxBackends,
  }
}

/** Runs the storm against each contender in turn. */
export async function runStorm(
  targets: StormTargets,
  invocations: number,
  log: (line: string) => void,
): Promise<StormResult[]> {
  const admin = new pg.Client({ connectionString: targets.databaseUrl })
  await admin.connect()
  const count = async (where: string, value: string) =>
    Number(
      (
        await admin.query<{ n: string }>(
          `select count(*) as n from pg_stat_activity
            where backend_type = 'client backend' and pid <> pg_backend_pid() and ${where}`,
          [value],
        )
      ).rows[0]!.n,
    )
  const results: StormResult[] = []
  try {
    results.push(
      await storm(
        'direct pg',
        invocations,
        () => directInvocation(targets.databaseUrl, 'bench-storm-direct'),
        () => count('application_name = $1', 'bench-storm-direct'),
        undefined,
      ),
    )
    results.push(
      await storm(
        'PgBouncer',
        invocations,
        () => directInvocation(targets.pgbouncerUrl, 'bench-storm-pgbouncer'),
        // PgBouncer's server connections: every backend but the gateway's (now idle) ones.
        () => count('application_name <> $1', targets.gatewayApplicationName),
        targets.pgbouncerPoolSize,
      ),
    )
    const cold = fetchWithAgent(false)
    results.push(
      await storm(
        'Sluice (new HTTP connection each)',
        invocations,
        async () => {
          const db = createClient({
            url: targets.gatewayUrl,
            token: targets.token,
            fetch: cold,
            retry: false,
          })
          await db.query(POINT_SQL, [1 + Math.floor(Math.random() * ITEM_ROWS)])
        },
        () => count('application_name = $1', targets.gatewayApplicationName),
        targets.gatewayMax,
      ),
    )
  } finally {
    await admin.end()
  }
  for (const r of results) {
    log(
      `storm ${r.method}: ${r.successes}/${r.invocations} ok, ${r.errors} errors${r.firstError ? ` (${r.firstError})` : ''}, p99 ${r.p99.toFixed(1)} ms, peak backends ${r.peakBackends}`,
    )
  }
  return results
}
