/**
 * The `sluice` command line: `serve` (the default), `check-config FILE`, `token`, and
 * `--help` for each. Errors of the configuration or of the arguments exit 2 with one line
 * per problem; a failure to start exits 1.
 */
import { ConfigError } from '../config/load.js'
import { redactText } from '../config/redact.js'
import { checkConfigCommand } from './check-config.js'
import { CHECK_CONFIG_HELP, MAIN_HELP, SERVE_HELP, TOKEN_HELP } from './help.js'
import type { CliIo } from './io.js'
import { tokenCommand } from './token.js'

const HELP: Record<string, string> = {
  serve: SERVE_HELP,
  'check-config': CHECK_CONFIG_HELP,
  token: TOKEN_HELP,
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
    io.err(
      `sluice: cannot start: ${redactText(error instanceof Error ? error.message : String(error))}`,
    )
    return 1
  }
}
