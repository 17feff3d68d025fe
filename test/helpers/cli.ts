/**
 * The CLI as a child process, the way `npm start -- ARGS` runs it (`node --import tsx
 * server/main.ts ARGS`), with its output collected and its exit awaited. Children still
 * running when a test ends are killed by `killChildren`.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** The repository's root. */
export const root = fileURLToPath(new URL('../../', import.meta.url))
const main = fileURLToPath(new URL('../../server/main.ts', import.meta.url))
// Absolute, so a child started in another folder (without node_modules) still finds it.
const tsx = import.meta.resolve('tsx')

/** How a child ended, with everything it printed. */
export interface Run {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** A running child. */
export interface Child {
  child: ChildProcess
  /** What it printed so far. */
  run: { stdout: string; stderr: string }
  /** Resolves once it exited and its output closed (every process holding it ended). */
  exited: Promise<Run>
  /** Resolves with its exit code once the process itself exited. */
  exitCode: Promise<number | null>
  /** Resolves once its stdout or stderr contains `text`; rejects if it exits first. */
  printed(text: string, timeoutMs?: number): Promise<void>
}

const children = new Map<ChildProcess, { group: boolean }>()

/** Options of {@link startProcess}. */
export interface StartOptions {
  /** Variables set (a value of `undefined` removes it from the inherited environment). */
  env?: Record<string, string | undefined>
  cwd?: string
  /** Node options put before the script (after `--import tsx`), such as more hooks. */
  nodeArgs?: string[]
  /** Its own process group (so a test can signal the group, as a terminal's Ctrl-C does). */
  detached?: boolean
}

/** An environment without the variables that choose Sluice's database, plus `env`. */
export function cleanEnv(env: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = { ...process.env }
  for (const name of [
    'DATABASE_URL',
    'SLUICE_CONFIG',
    'SLUICE_TOKEN',
    'SLUICE_ADMIN_TOKEN',
    'SLUICE_DATA_DIR',
    'SLUICE_DEBUG',
    'SLUICE_LOG_LEVEL',
    'SLUICE_DRAIN_GRACE_MS',
    'SLUICE_WORKERS',
    'PORT',
    'HOST',
    // Set by `npm test`: the CLI would believe npm runs it (see server/cli/serve.ts).
    'npm_lifecycle_event',
  ])
    delete base[name]
  // The test database's user is a superuser: DATABASE_URL mode would refuse it otherwise
  // (server/tenants/privileges.ts). A test of that refusal sets it to undefined.
  base.SLUICE_ALLOW_PRIVILEGED_ROLE = '1'
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) delete base[name]
    else base[name] = value
  }
  return base
}

/** Starts `command args` with its output collected. */
export function startProcess(command: string, args: string[], options: StartOptions = {}): Child {
  const child = spawn(command, args, {
    cwd: options.cwd ?? root,
    env: cleanEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.detached ?? false,
  })
  children.set(child, { group: options.detached ?? false })
  const run = { stdout: '', stderr: '' }
  const waiters = new Set<() => void>()
  const onData = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
    run[stream] += chunk
    for (const wake of waiters) wake()
  }
  child.stdout!.on('data', onData('stdout'))
  child.stderr!.on('data', onData('stderr'))
  const exited = new Promise<Run>((resolve) =>
    child.on('close', (code, signal) => {
      children.delete(child)
      for (const wake of waiters) wake()
      resolve({ code, signal, ...run })
    }),
  )
  const exitCode = new Promise<number | null>((resolve) => child.on('exit', resolve))
  const printed = (text: string, timeoutMs = 60_000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (run.stdout.includes(text) || run.stderr.includes(text)) done(resolve)
        else if (child.exitCode !== null || child.signalCode !== null)
          done(() =>
            reject(new Error(`exited before printing "${text}":\n${run.stdout}${run.stderr}`)),
          )
      }
      const timer = setTimeout(
        () => done(() => reject(new Error(`did not print "${text}":\n${run.stdout}${run.stderr}`))),
        timeoutMs,
      )
      const done = (finish: () => void) => {
        clearTimeout(timer)
        waiters.delete(check)
        finish()
      }
      waiters.add(check)
      check()
    })
  return { child, run, exited, exitCode, printed }
}

/** Starts `sluice ARGS` (server/main.ts through tsx, as `npm start -- ARGS` does). */
export function startSluice(args: string[], options: StartOptions = {}): Child {
  return startProcess(
    process.execPath,
    ['--import', tsx, ...(options.nodeArgs ?? []), main, ...args],
    options,
  )
}

/** Runs `sluice ARGS` to its end. */
export function sluice(args: string[], options: StartOptions = {}): Promise<Run> {
  return startSluice(args, options).exited
}

/** Kills (SIGKILL) every child a test left running, with its process group when it has one. */
export function killChildren(): void {
  for (const [child, { group }] of children) {
    try {
      if (group) process.kill(-child.pid!, 'SIGKILL')
      else child.kill('SIGKILL')
    } catch {
      // Already gone.
    }
  }
}

/** Whether process `pid` still exists (a zombie counts as gone). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return true
  }
}

/** The pids of the processes in process group `pgid` (Linux, from /proc). */
export function processGroup(pgid: number): number[] {
  const pids: number[] = []
  let entries: string[]
  try {
    entries = readdirSync('/proc')
  } catch {
    return pids
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue
    try {
      // pid (comm) state ppid pgrp …: comm may hold spaces, so read after its closing paren.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (fields[0] !== 'Z' && Number(fields[2]) === pgid) pids.push(Number(entry))
    } catch {
      // The process ended while we looked.
    }
  }
  return pids
}
