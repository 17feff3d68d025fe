/**
 * A gateway in its own process (`node --import tsx server/main.ts --config FILE`), as
 * operators run it, so that its memory can be read from /proc: the tests of bounded memory
 * measure what the gateway itself holds, not the test runner.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ConfigInput } from '../../server/config/schema.js'
import { freePort } from '../setup/postgres.js'
import { eventually } from './gateway.js'

/** A running gateway process. */
export interface GatewayProcess {
  pid: number
  port: number
  url: string
  /** Everything it printed so far (its JSON log lines). */
  output(): string
  /** Resident set now, in MiB (VmRSS). */
  rssMiB(): Promise<number>
  /** The highest resident set since the start or {@link resetPeak}, in MiB (VmHWM). */
  peakRssMiB(): Promise<number>
  /** Starts the peak over from the current resident set (Linux: clear_refs 5). */
  resetPeak(): Promise<void>
  /** Exits with SIGTERM (SIGKILL if it lingers). */
  stop(): Promise<void>
}

/** Reads one `Vm…` line of /proc/PID/status, in MiB. */
export async function procStatusMiB(pid: number, field: 'VmRSS' | 'VmHWM'): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)
  if (!match) throw new Error(`no ${field} in /proc/${pid}/status`)
  return Number(match[1]) / 1024
}

/** Starts a gateway process with `config` on a free port and waits until it listens. */
export async function startGatewayProcess(config: ConfigInput): Promise<GatewayProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-test-gateway-'))
  const file = join(dir, 'config.json')
  const port = await freePort()
  await writeFile(
    file,
    JSON.stringify({ ...config, server: { ...config.server, port, host: '127.0.0.1' } }),
    { mode: 0o600 },
  )
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', 'server/main.ts', '--config', file],
    { env: { ...process.env, PORT: '', HOST: '' }, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let output = ''
  child.stdout!.on('data', (chunk) => (output += chunk))
  child.stderr!.on('data', (chunk) => (output += chunk))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  try {
    await eventually(() => {
      if (child.exitCode !== null) throw new Error(`the gateway exited:\n${output}`)
      return output.includes(`listening on http://127.0.0.1:${port}`)
    }, 30_000)
  } catch (error) {
    child.kill('SIGKILL')
    await rm(dir, { recursive: true, force: true })
    throw error
  }
  const pid = child.pid!
  return {
    pid,
    port,
    url: `http://127.0.0.1:${port}`,
    output: () => output,
    rssMiB: () => procStatusMiB(pid, 'VmRSS'),
    peakRssMiB: () => procStatusMiB(pid, 'VmHWM'),
    resetPeak: () => writeFile(`/proc/${pid}/clear_refs`, '5'),
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
        await exited
        clearTimeout(timer)
      }
      await rm(dir, { recursive: true, force: true })
    },
  }
}
