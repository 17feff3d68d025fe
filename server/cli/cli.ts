/**
 * The `sluice` command line: `serve` (the default), `check-config FILE`, `token`,
 * `embedded-url`, `cache install-triggers|remove-triggers`, and `--help` for each. Errors of the configuration or of the arguments
 * exit 2 with one line per problem; any other failure exits 1 with one line that says what
 * is wrong and what to do. SLUICE_DEBUG adds the detail (a log, a stack) after that line.
 */
import { envValue, secretsOfEnv } from '../config/environment.js'
import { ConfigError } from '../config/load.js'
import { redactText } from '../config/redact.js'
import { isStartupError } from '../startup-error.js'
import { cacheCommand } from './cache.js'
import { checkConfigCommand } from './check-config.js'
import { embeddedUrlCommand } from './embedded-url.js'
import {
  CACHE_HELP,
  CHECK_CONFIG_HELP,
  EMBEDDED_URL_HELP,
  MAIN_HELP,
  SERVE_HELP,
  TOKEN_HELP,
} from './help.js'
import type { CliIo } from './io.js'
import { tokenCommand } from './token.js'

const HELP: Record<string, string> = {
  serve: SERVE_HELP,
  'check-config': CHECK_CONFIG_HELP,
  token: TOKEN_HELP,
  'embedded-url': EMBEDDED_URL_HELP,
  cache: CACHE_HELP,
}

/** The lines that report a failure: the cause always, the detail with SLUICE_DEBUG. */
function describeFailure(error: unknown, debug: boolean): { cause: string; detail?: string } {
  if (isStartupError(error)) {
    return debug && error.detail
      ? { cause: error.message, detail: error.detail }
      : { cause: error.message }
  }
  const message = error instanceof Error ? error.message : String(error)
  const cause =
    message === '' || message === 'undefined'
      ? 'an unexpected failure without a message (a bug: run with SLUICE_DEBUG=1 and report it)'
      : message
  const stack = error instanceof Error ? error.stack : undefined
  return debug && stack ? { cause, detail: stack } : { cause }
}

function isHelp(arg: string): boolean {
  return arg === '--help' || arg === '-h'
}

/**
 * Runs the command in `argv` (without node and the script). Resolves with the exit code,
 * or `undefined` when the gateway now serves (the process stays up until a signal).
 */
export async function runCli(
  argv: readonly string[],
  io: CliIo,
  env: Record<string, string | undefined>,
): Promise<number | undefined> {
  const [first, ...rest] = argv
  // No command, or an option first: serve (`npm start -- --config FILE` keeps working).
  const command = first === undefined || first.startsWith('-') ? 'serve' : first
  const args = command === first ? rest : argv
  try {
    if (command === 'help') {
      const topic = args[0]
      io.out(topic === undefined ? MAIN_HELP : (HELP[topic] ?? MAIN_HELP))
      return topic === undefined || topic in HELP ? 0 : 2
    }
    if (args.some(isHelp)) {
      // `sluice --help` is the overview; `sluice serve --help` is serve's own.
      io.out(command === first ? (HELP[command] ?? MAIN_HELP) : MAIN_HELP)
      return HELP[command] === undefined && command === first ? 2 : 0
    }
    switch (command) {
      case 'serve': {
        // Loaded on demand: `token` and `--help` need none of the gateway.
        const { serveCommand } = await import('./serve.js')
        await serveCommand(args, io, env)
        return undefined
      }
      case 'check-config':
        return await checkConfigCommand(args, io, env)
      case 'token':
        return tokenCommand(args, io)
      case 'embedded-url':
        return await embeddedUrlCommand(args, io, env)
      case 'cache':
        return await cacheCommand(args, io, env)
      default:
        io.err(`sluice: unknown command "${command}"`)
        io.err(MAIN_HELP)
        return 2
    }
  } catch (error) {
    if (error instanceof ConfigError) {
      for (const problem of error.problems) io.err(`sluice: config: ${problem}`)
      return 2
    }
    const secrets = secretsOfEnv(env)
    const { cause, detail } = describeFailure(error, envValue(env, 'SLUICE_DEBUG') !== undefined)
    const prefix = command === 'serve' ? 'cannot start: ' : `${command}: `
    io.err(`sluice: ${prefix}${redactText(cause, secrets)}`)
    if (detail !== undefined) io.err(redactText(detail, secrets))
    return 1
  }
}
