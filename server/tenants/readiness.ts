/**
 * Readiness: each tenant's database answers. What `/readyz` reports, and what a load
 * balancer routes on: never a tenant's credentials.
 */
import type { Lifecycle } from '../lifecycle/lifecycle.js'
import type { Tenant } from './tenant.js'

/** Each tenant's state, and whether the gateway takes new work. */
export interface Readiness {
  ready: boolean
  draining: boolean
  tenants: Record<string, 'ok' | 'unavailable'>
}

const PROBE_TIMEOUT_MS = 2_000

async function probe(tenant: Tenant): Promise<boolean> {
  // A paused tenant is held on purpose: its requests wait, they do not fail.
  if (tenant.pool.paused) return true
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(new Error('probe timeout')), PROBE_TIMEOUT_MS)
  try {
    const connection = await tenant.pool.acquire(controller.signal)
    // A database gone silent never answers the empty query: at the deadline the connection
    // is given up (its socket closed, so the query fails), or the probe, and every /readyz
    // sharing it, would wait for ever with the connection lent.
    const giveUp = () => connection.discard()
    controller.signal.addEventListener('abort', giveUp, { once: true })
    try {
      await connection.simple('')
    } finally {
      controller.signal.removeEventListener('abort', giveUp)
      tenant.pool.release(connection)
    }
    return true
  } catch (error) {
    // A pool too busy to lend a connection is busy, not down: it refused to queue us, or
    // every connection it may open stayed lent while we waited.
    const code = (error as { code?: unknown }).code
    if (code === 'POOL_TIMEOUT' || code === 'POOL_QUEUE_FULL') return true
    return controller.signal.aborted && tenant.pool.stats().poolInUse >= tenant.pool.maxSize
  } finally {
    clearTimeout(timer)
  }
}

// One probe per tenant at a time: /readyz needs no token, so concurrent calls share the
// probe in flight instead of each borrowing a connection from every tenant's pool.
const probing = new WeakMap<Tenant, Promise<boolean>>()

function sharedProbe(tenant: Tenant): Promise<boolean> {
  const running = probing.get(tenant)
  if (running) return running
  const started = probe(tenant).finally(() => probing.delete(tenant))
  probing.set(tenant, started)
  return started
}

/**
 * Probes every tenant's database (an empty query on a pooled connection, shared by
 * concurrent calls).
 */
export async function readiness(
  tenants: ReadonlyMap<string, Tenant>,
  lifecycle: Lifecycle,
): Promise<Readiness> {
  const entries = await Promise.all(
    [...tenants.values()].map(
      async (t) => [t.name, (await sharedProbe(t)) ? 'ok' : 'unavailable'] as const,
    ),
  )
  const ready = !lifecycle.draining && entries.every(([, state]) => state === 'ok')
  return { ready, draining: lifecycle.draining, tenants: Object.fromEntries(entries) }
}
