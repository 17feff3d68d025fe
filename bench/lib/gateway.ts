/**
 * The gateway under test, in a child process exactly as operators run it
 * (`server/main.ts --config FILE`, through tsx), so its CPU and memory are its own.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
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
  const child: ChildProcess = spawn(
    process.execPath,
    [...nodeArgs, 'server/main.ts', '--config', file],
    {
      // SLUICE_BENCH_GATEWAY_DIR runs another checkout's gateway (before/after comparisons).
      cwd: process.env.SLUICE_BENCH_GATEWAY_DIR ?? process.cwd(),
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', NODE_ENV: 'production' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let output = ''
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-8000)
  }
  child.stderr?.on('data', collect)
  let stopping = false
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  )
  void exited.then((code) => {
    if (!stopping) process.stderr.write(`bench: the gateway exited (${code}):\n${output}\n`)
  })
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start:\n${output}`)), 60_000)
    child.stdout?.on('data', (chunk: Buffer) => {
      collect(chunk)
      const match = /listening on http:\/\/[^:\s]+:(\d+)/.exec(output)
      if (match) {
        clearTimeout(timer)
        resolve(Number(match[1]))
      }
    })
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`gateway exited (${code}) before listening:\n${output}`))
    })
  })
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
