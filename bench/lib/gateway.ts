/**
 * The gateway under test, in a child process exactly as operators run it
 * (`server/main.ts --config FILE`, through tsx), so its CPU and memory are its own.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, open, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ConfigInput } from '../../server/config/schema.js'
import { sleep } from './system.js'

/** A running gateway child. */
export interface BenchGateway {
  pid: number
  port: number
  url: string
  /** Stops with SIGTERM; resolves with the CPU profile path when started with `profile`. */
  stop(): Promise<string | undefined>
}

/** Options of {@link startGateway}. */
export interface GatewayProcessOptions {
  /** Write a V8 CPU profile (node --cpu-prof) into a temp dir; `stop()` returns its path. */
  profile?: boolean
  /** More environment variables (NODE_CLUSTER_SCHED_POLICY, …). */
  env?: Record<string, string>
  /** Another checkout whose gateway runs instead (before/after comparisons, bench/compare.ts). */
  cwd?: string
}

/** Starts `server/main.ts` with `config` (written to a temp file) on a free port. */
export async function startGateway(
  config: ConfigInput,
  options: GatewayProcessOptions = {},
): Promise<BenchGateway> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-gateway-'))
  const file = join(dir, 'config.json')
  await writeFile(file, JSON.stringify(config), { mode: 0o600 })
  const nodeArgs = ['--import', 'tsx']
  if (options.profile) nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${dir}`)
  // The gateway logs a line per request: they go to a file, so that reading them costs
  // the bench process (which shares the cores) nothing while the load runs.
  const logFile = join(dir, 'gateway.log')
  const log = await open(logFile, 'w')
  const child: ChildProcess = spawn(
    process.execPath,
    [...nodeArgs, 'server/main.ts', '--config', file],
    {
      // SLUICE_BENCH_GATEWAY_DIR runs another checkout's gateway (before/after comparisons).
      cwd: options.cwd ?? process.env.SLUICE_BENCH_GATEWAY_DIR ?? process.cwd(),
      env: {
        ...process.env,
        PORT: '0',
        HOST: '127.0.0.1',
        NODE_ENV: 'production',
        ...options.env,
      },
      stdio: ['ignore', log.fd, log.fd],
    },
  )
  await log.close()
  const read = () => readFile(logFile, 'utf8').catch(() => '')
  const tail = async () => (await read()).slice(-8000)
  let stopping = false
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  )
  void exited.then(async (code) => {
    if (!stopping) process.stderr.write(`bench: the gateway exited (${code}):\n${await tail()}\n`)
  })
  const port = await (async () => {
    const deadline = Date.now() + 60_000
    for (;;) {
      const match = /listening on http:\/\/[^:\s]+:(\d+)/.exec(await read())
      if (match) return Number(match[1])
      if (child.exitCode !== null) {
        throw new Error(`gateway exited (${child.exitCode}) before listening:\n${await tail()}`)
      }
      if (Date.now() > deadline) throw new Error(`gateway did not start:\n${await tail()}`)
      await sleep(50)
    }
  })()
  return {
    pid: child.pid!,
    port,
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      if (stopping) return undefined
      stopping = true
      if (child.exitCode !== null) {
        await rm(dir, { recursive: true, force: true })
        return undefined
      }
      child.kill('SIGTERM')
      const code = await Promise.race([exited, sleep(15_000).then(() => 'timeout' as const)])
      if (code === 'timeout') child.kill('SIGKILL')
      let profile: string | undefined
      if (options.profile) {
        const found = (await readdir(dir)).find((f) => f.endsWith('.cpuprofile'))
        if (found) profile = join(dir, found)
      }
      if (!profile) await rm(dir, { recursive: true, force: true })
      return profile
    },
  }
}
