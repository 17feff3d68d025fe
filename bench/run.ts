/**
 * `npm run bench`: sets up PostgreSQL (embedded, scram-sha-256), PgBouncer (Debian's
 * package, transaction mode) and the gateway, runs every scenario of issues 6 and 15 against
 * 127.0.0.1 only, and writes bench/RESULTS.md, bench/latency.svg and
 * bench/results/latest.json. Every loop is bounded in count and time.
 *
 * Options: `--quick` (short runs, for trying the harness), `--skip=memory,profile,stream,...`,
 * `--workers=4,8` (the scale scenario also runs Sluice with that many workers, on a bigger
 * host), `--report` (no runs: write RESULTS.md again from results/latest.json and NOTES.md).
 * `BENCH_STREAM_ROWS` sets the streaming scenario's rows (10 million; 1 million with --quick).
 */
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import * as prettier from 'prettier'
import type { ConfigInput } from '../server/config/schema.js'
import { startGateway, type BenchGateway } from './lib/gateway.js'
import { startPgBouncer, type BenchPgBouncer } from './lib/pgbouncer.js'
import { startDatabase, type BenchDatabase } from './lib/postgres.js'
import { ensureCommands, machineInfo } from './lib/system.js'
import { latencyChart } from './report/chart.js'
import { resultsMarkdown, verdicts, type BenchResults } from './report/markdown.js'
import { runCache } from './scenarios/cache.js'
import { runMemory } from './scenarios/memory.js'
import { runProfile } from './scenarios/profile.js'
import { runScale } from './scenarios/scale.js'
import { runServerless } from './scenarios/serverless.js'
import { runStorm } from './scenarios/storm.js'
import { createStreamTable, runStream } from './scenarios/stream.js'
import { runThroughput } from './scenarios/throughput.js'
import { runWire } from './scenarios/wire.js'
import { freePort } from './lib/system.js'

const BENCH_DIR = dirname(fileURLToPath(import.meta.url))
const MAX_CONNECTIONS = 100
const POOL_SIZE = 16
const DELAY_MS = 10
const APPLICATION_NAME = 'sluice-bench'

const args = process.argv.slice(2)
const quick = args.includes('--quick')
const skip = new Set(
  args
    .filter((a) => a.startsWith('--skip='))
    .flatMap((a) => a.slice('--skip='.length).split(','))
    .filter(Boolean),
)
const extraWorkers = args
  .filter((a) => a.startsWith('--workers='))
  .flatMap((a) => a.slice('--workers='.length).split(','))
  .map(Number)
  .filter((n) => Number.isInteger(n) && n > 2)
const throughputSeconds = Number(process.env.BENCH_SECONDS ?? (quick ? 2 : 5))
const streamRows = Number(process.env.BENCH_STREAM_ROWS ?? (quick ? 1_000_000 : 10_000_000))

const startedAt = Date.now()
function log(line: string): void {
  const s = ((Date.now() - startedAt) / 1000).toFixed(0).padStart(4)
  console.log(`[${s}s] ${line}`)
}

function gatewayConfig(db: BenchDatabase, token: string, pgPort: number): ConfigInput {
  return {
    server: { pgPort },
    tenants: {
      bench: {
        allowPrivilegedRole: true,
        connection: { url: db.url },
        pool: { min: POOL_SIZE, max: POOL_SIZE },
        tokens: [{ token }],
        session: { applicationName: APPLICATION_NAME },
        // Streaming 10 million rows takes longer than the default 30 s statement timeout.
        statementTimeoutMs: 3_600_000,
      },
    },
  }
}

async function main(): Promise<void> {
  if (process.platform !== 'linux') throw new Error('the benchmark needs Linux (Debian packages)')
  await ensureCommands({ pgbouncer: 'pgbouncer', wrk: 'wrk', pgbench: 'postgresql-15' }, log)
  const cleanups: (() => Promise<unknown>)[] = []
  const cleanup = async () => {
    for (const step of cleanups.splice(0).reverse()) await step().catch(() => {})
  }
  const onSignal = () => {
    log('interrupted: stopping everything')
    void cleanup().then(() => process.exit(130))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    log('starting PostgreSQL and loading 100k rows')
    const db = await startDatabase(MAX_CONNECTIONS)
    cleanups.push(() => db.stop())
    const bouncer: BenchPgBouncer = await startPgBouncer(db, {
      poolSize: POOL_SIZE,
      maxClientConn: 3000,
    })
    cleanups.push(() => bouncer.stop())
    const token = randomBytes(24).toString('base64url')
    const pgPort = await freePort()
    const config = gatewayConfig(db, token, pgPort)
    const gateway: BenchGateway = await startGateway(config)
    cleanups.push(() => gateway.stop())
    log(`PostgreSQL :${db.port}, PgBouncer :${bouncer.port}, Sluice :${gateway.port}`)

    const results: BenchResults = {
      command: `npm run bench${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`,
      startedAt: new Date(startedAt).toISOString(),
      durationSeconds: 0,
      machine: await machineInfo(db.version),
      settings: {
        poolSize: POOL_SIZE,
        maxConnections: MAX_CONNECTIONS,
        throughputSeconds,
        delayMs: DELAY_MS,
      },
      serverless: [],
      throughput: [],
      storm: [],
      wire: [],
      cache: undefined,
      memory: undefined,
      profile: undefined,
      stream: undefined,
      scale: undefined,
    }

    if (!skip.has('serverless')) {
      results.serverless = await runServerless(
        {
          postgresPort: db.port,
          pgbouncerPort: bouncer.port,
          gatewayPort: gateway.port,
          user: db.user,
          password: db.password,
          database: db.database,
          token,
        },
        [0, DELAY_MS],
        (delay) =>
          quick
            ? { connect: 20, http: 50 }
            : delay === 0
              ? { connect: 300, http: 1000 }
              : { connect: 80, http: 200 },
        log,
      )
    }
    if (!skip.has('throughput')) {
      results.throughput = await runThroughput(
        {
          databaseUrl: db.url,
          pgbouncerUrl: bouncer.url,
          gatewayUrl: gateway.url,
          token,
          poolSize: POOL_SIZE,
        },
        quick ? [1, 64] : [1, 16, 64, 256],
        throughputSeconds,
        log,
      )
    }
    if (!skip.has('scale')) {
      results.scale = await runScale(
        {
          databaseUrl: db.url,
          pgbouncerUrl: bouncer.url,
          pgbouncerPid: bouncer.pid,
          gatewayConfig: config,
          token,
          poolSize: POOL_SIZE,
        },
        {
          workers: [1, 2, ...extraWorkers],
          seconds: throughputSeconds,
          nproc: results.machine.nproc,
        },
        log,
      )
    }
    if (!skip.has('wire')) {
      results.wire = await runWire(
        {
          databaseUrl: db.url,
          pgbouncerUrl: bouncer.url,
          gatewayUrl: `postgres://bench:${token}@127.0.0.1:${pgPort}/bench`,
          pgbouncerPid: bouncer.pid,
          gatewayPid: gateway.pid,
        },
        quick ? [1, 64] : [1, 16, 64],
        throughputSeconds,
        log,
      )
    }
    if (!skip.has('storm')) {
      results.storm = await runStorm(
        {
          databaseUrl: db.url,
          pgbouncerUrl: bouncer.url,
          gatewayUrl: gateway.url,
          token,
          gatewayApplicationName: APPLICATION_NAME,
          gatewayMax: POOL_SIZE,
          pgbouncerPoolSize: POOL_SIZE,
        },
        1000,
        log,
      )
    }
    if (!skip.has('memory')) {
      const admin = new pg.Client({ connectionString: db.url })
      await admin.connect()
      try {
        results.memory = await runMemory(
          {
            databaseUrl: db.url,
            tenants: 1000,
            clients: quick ? 1000 : 5000,
            gatewayPid: gateway.pid,
            gatewayPort: gateway.port,
            token,
            countBackends: async (name) =>
              Number(
                (
                  await admin.query<{ n: string }>(
                    'select count(*) as n from pg_stat_activity where application_name = $1',
                    [name],
                  )
                ).rows[0]!.n,
              ),
          },
          log,
        )
      } finally {
        await admin.end()
      }
    }
    if (!skip.has('stream')) {
      log(`stream: loading ${streamRows.toLocaleString('en-US')} rows`)
      await createStreamTable(db.url, streamRows)
      results.stream = await runStream(
        {
          databaseUrl: db.url,
          gatewayUrl: gateway.url,
          gatewayPid: gateway.pid,
          token,
          rows: streamRows,
          slowSeconds: quick ? 4 : 10,
        },
        log,
      )
    }
    // The main gateway is done; the cache scenario and the profile get the machine to themselves.
    await gateway.stop()
    if (!skip.has('cache')) {
      results.cache = await runCache(
        { databaseUrl: db.url, pgbouncerUrl: bouncer.url, poolSize: POOL_SIZE },
        throughputSeconds,
        quick,
        log,
      )
    }
    if (!skip.has('profile')) {
      results.profile = await runProfile(config, token, quick ? 3 : 8, log)
    }

    results.durationSeconds = (Date.now() - startedAt) / 1000
    await writeResults(results)
    for (const v of verdicts(results)) {
      log(`${v.met ? 'met   ' : 'MISSED'} ${v.target}: ${v.measured}${v.gap ? ` (${v.gap})` : ''}`)
    }
    log(`wrote bench/RESULTS.md, bench/latency.svg, bench/results/latest.json`)
  } finally {
    await cleanup()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

async function writeResults(results: BenchResults): Promise<void> {
  await mkdir(join(BENCH_DIR, 'results'), { recursive: true })
  const { serverless, ...rest } = results
  const raw = {
    ...rest,
    serverless: serverless.map(({ samples: _samples, ...c }) => c),
  }
  await writeFile(join(BENCH_DIR, 'results', 'latest.json'), `${JSON.stringify(raw, null, 2)}\n`)
  if (serverless.length > 0)
    await writeFile(join(BENCH_DIR, 'latency.svg'), latencyChart(serverless))
  await writeMarkdown(results)
}

async function writeMarkdown(results: BenchResults): Promise<void> {
  const notes = await readFile(join(BENCH_DIR, 'NOTES.md'), 'utf8').catch(() => undefined)
  const markdown = resultsMarkdown(results, notes)
  const file = join(BENCH_DIR, 'RESULTS.md')
  const options = (await prettier.resolveConfig(file)) ?? {}
  await writeFile(file, await prettier.format(markdown, { ...options, parser: 'markdown' }))
}

/** `--report`: RESULTS.md again from the last run's numbers and the current NOTES.md. */
async function report(): Promise<void> {
  const raw = await readFile(join(BENCH_DIR, 'results', 'latest.json'), 'utf8')
  await writeMarkdown(JSON.parse(raw) as BenchResults)
  console.log('wrote bench/RESULTS.md from bench/results/latest.json and bench/NOTES.md')
}

;(args.includes('--report') ? report() : main()).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error('bench failed:', error)
    process.exit(1)
  },
)
