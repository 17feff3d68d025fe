/**
 * Gateway processes as operators run them (`sluice serve --config FILE` as children, see
 * ./cli.ts), for the tests of workers and of several nodes: starting one on an address,
 * plain HTTP calls (on a fresh connection, or on a keep-alive agent that stays with one
 * worker), the admin API, and reading /metrics.
 */
import { writeFile } from 'node:fs/promises'
import { Agent, request } from 'node:http'
import { join } from 'node:path'
import type { ConfigInput } from '../../server/config/schema.js'
import { ownerOf } from '../../server/cluster/transaction-id.js'
import { startSluice, type Child } from './cli.js'

/** An answer: status, headers, the parsed JSON body (or the text). */
export interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: any
}

/** Options of {@link call}. */
export interface CallOptions {
  token?: string
  /** A keep-alive agent (the connection, and so the worker, it holds); a fresh connection without. */
  agent?: Agent
  headers?: Record<string, string>
  method?: string
  /** Give up (and reject) after this long. */
  timeoutMs?: number
}

/** One HTTP request to `base` (`http://host:port`). */
export function call(
  base: string,
  path: string,
  body?: unknown,
  options: CallOptions = {},
): Promise<Answer> {
  return new Promise<Answer>((resolve, reject) => {
    const url = new URL(path, base)
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: `${url.pathname}${url.search}`,
        method: options.method ?? (payload === undefined ? 'GET' : 'POST'),
        headers: {
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
          ...options.headers,
        },
        agent: options.agent ?? false,
        timeout: options.timeoutMs ?? 30_000,
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => (text += chunk))
        res.on('end', () => {
          let parsed: unknown = text
          try {
            parsed = JSON.parse(text)
          } catch {
            // NDJSON or plain text: kept as text.
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed })
        })
      },
    )
    req.on('timeout', () =>
      req.destroy(new Error(`no answer to ${path} within ${options.timeoutMs ?? 30_000} ms`)),
    )
    req.on('error', reject)
    req.end(payload)
  })
}

/** The value of one series of a Prometheus text exposition (0 when absent). */
export function metricValue(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number {
  let total = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    const matches = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))
    if (matches) total += Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return total
}

/** A gateway process. */
export interface NodeProcess {
  child: Child
  base: string
  file: string
  /** Stops it with SIGTERM and waits for its exit code. */
  stop(): Promise<number | null>
}

/** Writes `config` to `file` and starts `sluice serve --config file`; resolves once it listens. */
export async function startNode(
  file: string,
  config: ConfigInput,
  env: Record<string, string> = {},
): Promise<NodeProcess> {
  await writeFile(file, JSON.stringify(config), { mode: 0o600 })
  const child = startSluice(['--config', file], { env })
  const host = env.HOST ?? config.server?.host ?? '127.0.0.1'
  const port = env.PORT ?? String(config.server?.port)
  const base = `http://${host}:${port}`
  await child.printed(`listening on ${base}`)
  return {
    child,
    base,
    file,
    async stop() {
      if (child.child.exitCode === null && child.child.signalCode === null)
        child.child.kill('SIGTERM')
      return (await child.exited).code
    },
  }
}

/** A file in `dir`. */
export function fileIn(dir: string, name: string): string {
  return join(dir, name)
}

/**
 * A keep-alive agent whose one connection is served by worker `index` of the node at
 * `base`: found by beginning (and rolling back) a transaction on a connection and reading
 * which worker its id names. New connections go to the workers in turn.
 */
export async function agentOnWorker(base: string, token: string, index: number): Promise<Agent> {
  for (let attempt = 0; attempt < 12; attempt++) {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    const begun = await call(base, '/v1/transactions', {}, { token, agent })
    if (begun.status !== 201)
      throw new Error(`begin answered ${begun.status}: ${JSON.stringify(begun.body)}`)
    await call(base, `/v1/transactions/${begun.body.id}/rollback`, {}, { token, agent })
    if (ownerOf(begun.body.id)?.worker === index) return agent
    agent.destroy()
  }
  throw new Error(`no connection landed on worker ${index}`)
}
