/**
 * The config in force on a node with workers, and its reloads (SIGHUP, POST /admin/reload):
 * the primary (./primary.ts) reads the file again, refuses one the node could not start with
 * (invalid, or a pool too small for its workers), and applies it in every listening worker; a
 * worker started later starts with it.
 */
import { SluiceError } from '../../src/errors.js'
import { ConfigError } from '../config/load.js'
import type { Config } from '../config/schema.js'
import type { Logger } from '../log/logger.js'
import type { ReloadReport } from '../tenants/tenant-set.js'
import { workerProblems } from './address.js'
import { fromPlainError } from './node-ops.js'
import type { WorkerSlots } from './worker-slots.js'

/** Options of {@link NodeConfig}. */
export interface NodeConfigOptions {
  /** The config the node started with. */
  config: Config
  /** How many workers. */
  workers: number
  /** Reads and validates the config file again; absent without a config file. */
  loadConfig?: (() => Promise<Config>) | undefined
  logger: Logger
  slots: WorkerSlots
}

/** A node's config in force and its reloads. */
export class NodeConfig {
  private inForce: Config
  /** The node's reloads by result: each worker counts its own, which would add up to more. */
  readonly reloads = { ok: 0, invalid: 0 }

  constructor(private readonly options: NodeConfigOptions) {
    this.inForce = options.config
  }

  /** The config in force (a reload changes it). */
  get current(): Config {
    return this.inForce
  }

  /**
   * Reads the config file again and applies it in every worker. A file the node could not
   * start with is refused: every worker keeps the config in force.
   */
  async reload(): Promise<ReloadReport> {
    const { loadConfig, logger, workers, slots } = this.options
    if (!loadConfig) {
      throw new SluiceError(
        'BAD_REQUEST',
        'nothing to reload: the gateway was started without a config file (--config or SLUICE_CONFIG)',
      )
    }
    let next: Config
    try {
      next = await loadConfig()
      const problems = workerProblems(next, workers)
      if (problems.length > 0) throw new ConfigError(problems)
    } catch (error) {
      if (error instanceof ConfigError) {
        this.reloads.invalid++
        logger.warn(
          { problems: error.problems },
          'config reload refused: the old config keeps serving',
        )
      }
      throw error
    }
    // A worker restarted from now on starts with it.
    this.inForce = next
    const answers = await slots.gather((id, slot) =>
      slots.send(slot.worker, { type: 'sluice:apply', id, config: next }),
    )
    const failed = answers.find((a) => !a.ok)
    if (failed && !failed.ok) throw fromPlainError(failed.error)
    this.reloads.ok++
    const first = answers[0]
    return (first?.ok ? first.value : undefined) as ReloadReport
  }
}
