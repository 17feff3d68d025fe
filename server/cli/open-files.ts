/**
 * Whether `server.maxClientConnections` fits under the process's limit on open files, with
 * the pools' connections beside it. Node raises its soft limit to the hard one when it
 * starts, so the limit read here is the one the gateway lives with; past it, accepting a
 * client and opening a database connection both fail (EMFILE). Read from /proc (Linux);
 * elsewhere nothing is said.
 */
import { readFileSync } from 'node:fs'
import type { Config } from '../config/schema.js'

/** Descriptors a process holds besides clients and pools: listeners, logs, the runtime's. */
const RESERVED_DESCRIPTORS = 64

/** The process's limit on open files, or undefined when unknown or unlimited. */
export function openFilesLimit(limits = '/proc/self/limits'): number | undefined {
  try {
    const line = readFileSync(limits, 'utf8')
      .split('\n')
      .find((row) => row.startsWith('Max open files'))
    const soft = Number(line?.slice('Max open files'.length).trim().split(/\s+/)[0])
    return Number.isSafeInteger(soft) ? soft : undefined
  } catch {
    return undefined
  }
}

/** A warning when `limit` cannot hold the client cap and the pools, else undefined. */
export function openFilesWarning(config: Config, limit: number | undefined): string | undefined {
  if (limit === undefined) return undefined
  const tenants = Object.values(config.tenants)
  const pools = tenants.reduce(
    (sum, tenant) => sum + tenant.pool.max + (tenant.cache.enabled ? 1 : 0),
    0,
  )
  const clients = config.server.maxClientConnections
  const needed = clients + pools + RESERVED_DESCRIPTORS
  if (limit >= needed) return undefined
  return `warning: the open-files limit (${limit}) is below server.maxClientConnections (${clients}) + the pools' connections (${pools}) + ${RESERVED_DESCRIPTORS}: clients past it, and database connections, would fail (EMFILE); raise it (ulimit -n, systemd's LimitNOFILE) or lower server.maxClientConnections`
}
