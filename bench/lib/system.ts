/** Machine facts and small process helpers for the benchmark (Linux, Debian packages). */
import { execFile, execFileSync } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { cpus, totalmem } from 'node:os'
import { freePort } from '../../server/embedded/free-port.js'

export { freePort }

/** What the results were measured on. */
export interface MachineInfo {
  nproc: number
  cpuModel: string
  memoryGiB: number
  node: string
  os: string
  postgres: string
  pgbouncer: string
}

/** Runs a command and resolves with its stdout; rejects with its stderr on failure. */
export function run(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      {
        env: options.env ?? process.env,
        timeout: options.timeoutMs ?? 120_000,
        maxBuffer: 64 * 1024 * 1024,
        ...(options.cwd ? { cwd: options.cwd } : {}),
      },
      (error, stdout, stderr) => {
        if (error)
          reject(new Error(`${command} ${args.join(' ')} failed: ${stderr || error.message}`))
        else resolve(stdout)
      },
    )
  })
}

/** True when `command` is on the PATH. */
export function hasCommand(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** Installs Debian packages when one of `commands` is missing (needs root and apt). */
export async function ensureCommands(
  packages: Record<string, string>,
  log: (line: string) => void,
): Promise<void> {
  const missing = Object.entries(packages).filter(([command]) => !hasCommand(command))
  if (missing.length === 0) return
  const names = [...new Set(missing.map(([, name]) => name))]
  log(`installing ${names.join(', ')} from Debian's packages`)
  await run('apt-get', ['update', '-qq'], { timeoutMs: 300_000 })
  await run('apt-get', ['install', '-y', '-qq', ...names], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    timeoutMs: 300_000,
  })
  for (const [command] of missing) {
    if (!hasCommand(command)) throw new Error(`${command} is still missing after apt-get install`)
  }
}

/** Resident set size of a process, in MiB (from /proc). */
export async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const match = /VmRSS:\s+(\d+) kB/.exec(status)
  return match ? Number(match[1]) / 1024 : Number.NaN
}

/** The uid and gid of a system user. */
export function userIds(name: string): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', name]).toString().trim())
  const gid = Number(execFileSync('id', ['-g', name]).toString().trim())
  return { uid, gid }
}

async function firstLine(command: string, args: string[]): Promise<string> {
  try {
    return (await run(command, args)).split('\n')[0]!.trim()
  } catch {
    return 'unknown'
  }
}

/** Collects {@link MachineInfo}. */
export async function machineInfo(postgres: string): Promise<MachineInfo> {
  let os = 'unknown'
  try {
    const release = await readFile('/etc/os-release', 'utf8')
    os = /PRETTY_NAME="([^"]+)"/.exec(release)?.[1] ?? os
  } catch {
    // Not Linux: leave unknown.
  }
  return {
    nproc: Number(await firstLine('nproc', [])) || cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: totalmem() / 1024 ** 3,
    node: process.version,
    os,
    postgres,
    pgbouncer: await firstLine('pgbouncer', ['--version']),
  }
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
