/**
 * Two gateways side by side: this checkout's and another's (`--before=DIR`, a checkout with
 * its own node_modules, or a link to these), on one PostgreSQL, with the same config, in
 * interleaved rounds so that a busy moment of the machine falls on both. Each round runs
 * `SELECT 1` through wrk at c=64 (req/s, and the gateway's CPU per request from /proc)
 * and at c=1 (p50), for each gateway in turn, the order alternating by round; medians are
 * printed with the ratio after/before. For changes whose cost is smaller than the full
 * bench's run-to-run noise (bench/NOTES.md says which were measured this way).
 *
 *   npm run bench:compare -- --before=/path/to/other/checkout [--after=DIR] [--rounds=5] [--seconds=3] [--legacy-config]
 *
 * `--after` defaults to this checkout; `--legacy-config` leaves out `allowPrivilegedRole`, for
 * checkouts older than it.
 */
import { randomBytes } from 'node:crypto'
import { resolve } from 'node:path'
import type { ConfigInput } from '../server/config/schema.js'
import { treeCpuSeconds } from './lib/cpu.js'
import { startGateway, type BenchGateway } from './lib/gateway.js'
import { startDatabase } from './lib/postgres.js'
import { ensureCommands } from './lib/system.js'
import { wrk } from './scenarios/throughput.js'

const POOL_SIZE = 16

function option(name: string): string | undefined {
  return process.argv
    .slice(2)
    .find((a) => a.startsWith(`--${name}=`))
    ?.slice(name.length + 3)
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

interface Sample {
  rps64: number
  cpuUs64: number
  p50us1: number
}

async function measure(gateway: BenchGateway, token: string, seconds: number): Promise<Sample> {
  const cpuBefore = treeCpuSeconds(gateway.pid)
  const started = process.hrtime.bigint()
  const busy = await wrk(gateway.url, token, 'SELECT 1', 64, seconds, true)
  const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9
  const cpuSeconds = treeCpuSeconds(gateway.pid) - cpuBefore
  // wrk's warm-up second is in the wall time and the CPU time alike: count its requests as
  // served at the measured rate, so the CPU per request stays comparable between the two.
  const cpuUs64 = (cpuSeconds * 1e6) / (busy.rps * wallSeconds)
  const alone = await wrk(gateway.url, token, 'SELECT 1', 1, seconds, true)
  return { rps64: busy.rps, cpuUs64, p50us1: alone.p50 * 1000 }
}

async function main(): Promise<void> {
  const before = option('before')
  if (!before) throw new Error('give the other checkout: --before=DIR')
  const rounds = Number(option('rounds') ?? 5)
  const seconds = Number(option('seconds') ?? 3)
  await ensureCommands({ wrk: 'wrk' }, console.log)
  const db = await startDatabase(100)
  const token = randomBytes(24).toString('base64url')
  // Checkouts from before least privilege (issue 12) refuse the key they do not know.
  const legacy = process.argv.includes('--legacy-config')
  const config: ConfigInput = {
    tenants: {
      bench: {
        ...(legacy ? {} : { allowPrivilegedRole: true }),
        connection: { url: db.url },
        pool: { min: POOL_SIZE, max: POOL_SIZE },
        tokens: [{ token }],
      },
    },
  }
  const sides = { before: resolve(before), after: resolve(option('after') ?? process.cwd()) }
  const samples: Record<keyof typeof sides, Sample[]> = { before: [], after: [] }
  try {
    for (let round = 0; round < rounds; round++) {
      const order = (
        round % 2 ? ['after', 'before'] : ['before', 'after']
      ) as (keyof typeof sides)[]
      for (const side of order) {
        const gateway = await startGateway(config, { cwd: sides[side] })
        try {
          const sample = await measure(gateway, token, seconds)
          samples[side].push(sample)
          console.log(
            `round ${round + 1} ${side}: c=64 ${sample.rps64.toFixed(0)} req/s, ${sample.cpuUs64.toFixed(1)} µs CPU/request; c=1 p50 ${sample.p50us1.toFixed(0)} µs`,
          )
        } finally {
          await gateway.stop()
        }
      }
    }
  } finally {
    await db.stop()
  }
  const row = (name: string, pick: (s: Sample) => number, unit: string) => {
    const b = median(samples.before.map(pick))
    const a = median(samples.after.map(pick))
    console.log(
      `| ${name} | ${b.toFixed(1)} ${unit} | ${a.toFixed(1)} ${unit} | ${(a / b).toFixed(3)}× |`,
    )
  }
  console.log(`\nmedians of ${rounds} rounds (${seconds} s each), SELECT 1:\n`)
  console.log('| measure | before | after | after / before |')
  console.log('| --- | --- | --- | --- |')
  row('c=64 throughput', (s) => s.rps64, 'req/s')
  row('c=64 gateway CPU per request', (s) => s.cpuUs64, 'µs')
  row('c=1 p50 (wrk)', (s) => s.p50us1, 'µs')
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  },
)
