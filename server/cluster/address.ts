/**
 * This node's address as its peers reach it, and how many workers it runs: the two facts
 * about a node the config gives indirectly (`advertise` or the listening address; a number
 * of workers or `auto`).
 */
import { lookup } from 'node:dns/promises'
import { availableParallelism } from 'node:os'
import { isIP } from 'node:net'
import { formatHostPort, parseHostPort } from '../config/host-port.js'
import type { Config } from '../config/schema.js'

/**
 * `server.cluster.advertise`, else `server.host:server.port`, with a host name resolved to
 * its address (peers find each other by address: DNS answers and `peers` entries alike).
 */
export async function nodeAddress(config: Config): Promise<string> {
  const { host, port, cluster } = config.server
  const parsed =
    cluster?.advertise === undefined ? { host, port } : parseHostPort(cluster.advertise)
  if (typeof parsed === 'string') throw new Error(`server.cluster.advertise: ${parsed}`)
  if (isIP(parsed.host) || cluster === undefined) return formatHostPort(parsed)
  return formatHostPort({ host: (await lookup(parsed.host)).address, port: parsed.port })
}

/** How many workers `server.workers` asks for (`auto`: one per available core). */
export function workerCount(config: Config): number {
  const { workers } = config.server
  // An id and a session's process id carry the worker's index in one byte.
  return workers === 'auto' ? Math.min(availableParallelism(), 255) : workers
}

/**
 * What forbids running `workers` workers: each needs at least one connection of every
 * tenant's pool (a node of a cluster divides its share the same way, later).
 */
export function workerProblems(config: Config, workers: number): string[] {
  if (workers <= 1 || config.server.cluster !== undefined) return []
  return Object.entries(config.tenants)
    .filter(([, tenant]) => tenant.pool.max < workers)
    .map(
      ([name, tenant]) =>
        `tenants.${name}.pool.max (${tenant.pool.max}) is less than the ${workers} workers of server.workers${config.server.workers === 'auto' ? ' (auto: one per core)' : ''}: each worker gets its share of the pool and needs at least one connection; raise pool.max or lower server.workers`,
    )
}
