/** `sluice check-config FILE`: validates a config and prints it resolved, secrets redacted. */
import { workerCount, workerProblems } from '../cluster/address.js'
import { applyEnv, envValue } from '../config/environment.js'
import { ConfigError, loadConfigFile } from '../config/load.js'
import { redactValue } from '../config/redact.js'
import type { CliIo } from './io.js'
import { describeTenants } from './summary.js'

/** Runs `sluice check-config`; returns the exit code (a ConfigError means 2). */
export async function checkConfigCommand(
  args: readonly string[],
  io: CliIo,
  env: Record<string, string | undefined>,
): Promise<number> {
  const files = args.filter((arg) => arg !== '--config')
  const unknown = files.find((arg) => arg.startsWith('-'))
  if (unknown !== undefined)
    throw new ConfigError([`check-config: unknown option "${unknown}" (see --help)`])
  const file = files[0] ?? envValue(env, 'SLUICE_CONFIG')
  if (file === undefined || files.length > 1)
    throw new ConfigError(['check-config: give exactly one config FILE (see --help)'])
  // As the start reads it: the environment's overrides (PORT, SLUICE_WORKERS…) applied, and
  // what workers need checked.
  const config = applyEnv(await loadConfigFile(file, env), env)
  const problems = workerProblems(config, workerCount(config))
  if (problems.length > 0) throw new ConfigError(problems)
  io.out(JSON.stringify(redactValue([], config), null, 2))
  io.err(`sluice: ${file} is valid`)
  for (const line of describeTenants(config)) io.err(`sluice: ${line}`)
  return 0
}
