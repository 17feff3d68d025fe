/**
 * Serverless invocations: each one is a fresh function instance that runs one point query
 * and ends. Direct pg (connect, query, close), the same through PgBouncer, and Sluice over
 * HTTP with the edge client (edge/), on a kept-alive connection (a warm runtime's connection
 * pool) and on a new connection each time; with no added latency and through the latency
 * proxy.
 */
import { Agent } from 'node:http'
import pg from 'pg'
import { createClient } from '../../edge/index.js'
import { fetchWithAgent } from '../lib/http-fetch.js'
import { startLatencyProxy } from '../lib/latency-proxy.js'
import { ITEM_ROWS, POINT_SQL } from '../lib/postgres.js'
import { msSince, summarize, type LatencySummary } from '../lib/stats.js'

/** Where each contender listens, and how to log in. */
export interface ServerlessTargets {
  postgresPort: number
  pgbouncerPort: number
  gatewayPort: number
  user: string
  password: string
  database: string
  token: string
}

/** One contender's invocations under one network condition. */
export interface ServerlessCase {
  method: 'direct pg' | 'PgBouncer' | 'Sluice, kept-alive HTTP' | 'Sluice, new HTTP connection'
  delayMs: number
  summary: LatencySummary
  errors: number
  /** Raw samples (ms), for the chart. */
  samples: number[]
}

/** Invocation counts per contender; connect-per-invocation ones are slower, so fewer. */
export interface ServerlessCounts {
  connect: number
  http: number
}

/** Requests the gateway serves before the serverless runs (not counted). */
const GATEWAY_WARM_UP = 3000

const randomId = () => 1 + Math.floor(Math.random() * ITEM_ROWS)

async function pgInvocation(port: number, t: ServerlessTargets): Promise<void> {
  const client = new pg.Client({
    host: '127.0.0.1',
    port,
    user: t.user,
    password: t.password,
    database: t.database,
  })
  await client.connect()
  try {
    const result = await client.query(POINT_SQL, [randomId()])
    if (result.rows.length !== 1) throw new Error('expected one row')
  } finally {
    await client.end()
  }
}

/** One invocation through the edge client: a new client (a cold function instance) per call. */
async function edgeInvocation(fetchFn: typeof fetch, url: string, token: string): Promise<void> {
  const db = createClient({ url, token, fetch: fetchFn, retry: false })
  const { rows } = await db.query(POINT_SQL, [randomId()])
  if (rows.length !== 1) throw new Error('expected one row')
}

async function measure(
  count: number,
  invoke: () => Promise<void>,
): Promise<{ samples: number[]; errors: number }> {
  // Warm the JIT of both sides (the invocations stay cold: each one is a new instance).
  for (let i = 0; i < Math.ceil(count / 5); i++) await invoke().catch(() => {})
  const samples: number[] = []
  let errors = 0
  const deadline = Date.now() + 60_000
  for (let i = 0; i < count && Date.now() < deadline; i++) {
    const start = process.hrtime.bigint()
    try {
      await invoke()
      samples.push(msSince(start))
    } catch {
      errors++
    }
  }
  return { samples, errors }
}

/** Runs every contender at each delay (ms each way). */
export async function runServerless(
  targets: ServerlessTargets,
  delays: readonly number[],
  counts: (delayMs: number) => ServerlessCounts,
  log: (line: string) => void,
): Promise<ServerlessCase[]> {
  const cases: ServerlessCase[] = []
  // The gateway is a long-lived service, warm in production: give its JIT the requests it
  // would have served already (the functions themselves stay cold, see edgeInvocation).
  const serviceAgent = new Agent({ keepAlive: true, maxSockets: 1 })
  const serviceFetch = fetchWithAgent(serviceAgent)
  const serviceUrl = `http://127.0.0.1:${targets.gatewayPort}`
  for (let i = 0; i < GATEWAY_WARM_UP; i++) {
    await edgeInvocation(serviceFetch, serviceUrl, targets.token).catch(() => {})
  }
  serviceAgent.destroy()
  for (const delayMs of delays) {
    const ports = [targets.postgresPort, targets.pgbouncerPort, targets.gatewayPort]
    // With no added latency everyone talks to the ports themselves: a proxy that adds
    // nothing would still add two socket hops per round trip, in this very process.
    const proxies =
      delayMs > 0 ? await Promise.all(ports.map((port) => startLatencyProxy(port, delayMs))) : []
    const [pgPort, bouncerPort, gatewayPort] = delayMs > 0 ? proxies.map((p) => p.port) : ports
    const gatewayUrl = `http://127.0.0.1:${gatewayPort!}`
    const { connect, http } = counts(delayMs)
    const warmAgent = new Agent({ keepAlive: true, maxSockets: 1 })
    const warmFetch = fetchWithAgent(warmAgent)
    const coldFetch = fetchWithAgent(false)
    const contenders: [ServerlessCase['method'], number, () => Promise<void>][] = [
      ['direct pg', connect, () => pgInvocation(pgPort!, targets)],
      ['PgBouncer', connect, () => pgInvocation(bouncerPort!, targets)],
      ['Sluice, kept-alive HTTP', http, () => edgeInvocation(warmFetch, gatewayUrl, targets.token)],
      [
        'Sluice, new HTTP connection',
        http,
        () => edgeInvocation(coldFetch, gatewayUrl, targets.token),
      ],
    ]
    for (const [method, count, invoke] of contenders) {
      const { samples, errors } = await measure(count, invoke)
      const summary = summarize(samples)
      log(
        `serverless ${method}, +${delayMs} ms each way: p50 ${summary.p50.toFixed(2)} ms, p99 ${summary.p99.toFixed(2)} ms (${samples.length} ok, ${errors} errors)`,
      )
      cases.push({ method, delayMs, summary, errors, samples })
    }
    warmAgent.destroy()
    await Promise.all(proxies.map((p) => p.close()))
  }
  return cases
}
