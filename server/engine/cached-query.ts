/**
 * `POST /v1/query` with `"cache": {…}`: a plain read answered from the tenant's cache when
 * it may be (docs/cache.md), else from the database like any query. The answer is the JSON
 * body itself (kept as sent, so a hit costs no serialisation) and how the cache was used,
 * for the `Sluice-Cache` header.
 */
import type { CacheRequest, CacheStatus, QueryRequest } from '../../src/protocol.js'
import { isMomentString } from '../cache/sql-facts.js'
import type { TenantCache } from '../cache/tenant-cache.js'
import { deadlinePassed } from './cancellation.js'
import { checkStatement, effectiveTimeout, runQuery, type RunContext } from './run.js'

/** A `/v1/query` answer: the body to send and the `Sluice-Cache` value. */
export interface CachedAnswer {
  body: string
  cache: CacheStatus
}

/** Runs `request` without the cache, as a plain `/v1/query`. */
async function bypass(
  context: RunContext,
  request: QueryRequest,
  cache: TenantCache | undefined,
): Promise<CachedAnswer> {
  cache?.count('bypass')
  return { body: JSON.stringify(await runQuery(context, request)), cache: 'bypass' }
}

/** The request's lifetimes, capped by the tenant's `cache.maxTtlMs`. */
function lifetimes(cache: TenantCache, ask: CacheRequest): { ttlMs: number; swrMs: number } {
  const max = cache.config.maxTtlMs
  const ttlMs = Math.min(ask.ttlMs ?? cache.config.defaultTtlMs, max)
  return { ttlMs, swrMs: Math.min(ask.swrMs ?? 0, max - ttlMs) }
}

/** `/v1/query` for a request that carries `cache`. */
export async function runCachedQuery(
  context: RunContext,
  request: QueryRequest & { cache: CacheRequest },
): Promise<CachedAnswer> {
  // The same refusals, in the same words, as without the cache.
  checkStatement(request)
  const cache = context.tenant.cache
  if (!cache?.live) return bypass(context, request, cache)
  // A parameter that a date type reads as the current time ('now', 'today') is the clock.
  if (request.params?.some((p) => typeof p === 'string' && isMomentString(p)))
    return bypass(context, request, cache)
  const key = cache.key(context.principal.role, request.sql, request.params, request.cache.tags)
  const found = cache.lookup(key, lifetimes(cache, request.cache))
  if (found) {
    cache.count(found.status)
    if (found.status === 'stale') cache.refresh(key, () => refresh(context, request, cache, key))
    return { body: found.entry.body, cache: found.status }
  }
  let plan
  try {
    plan = cache.catalog.known(request.sql) ?? (await cache.catalog.plan(request.sql))
  } catch {
    // The catalog could not be read: the database answers, and says what is wrong.
    return bypass(context, request, cache)
  }
  if (!('keys' in plan.read)) return bypass(context, request, cache)
  cache.count('miss')
  return { body: await fill(context, request, cache, key, plan.read.keys), cache: 'miss' }
}

/** Reads from the database and keeps the answer, unless a write overtook the read. */
function fill(
  context: RunContext,
  request: QueryRequest & { cache: CacheRequest },
  cache: TenantCache,
  key: string,
  tables: readonly number[],
): Promise<string> {
  const read = { tables, tags: request.cache.tags ?? [], ...lifetimes(cache, request.cache) }
  // Sharing another request's read, this one still answers within its own timeout.
  const wait = { ms: effectiveTimeout(context.tenant, request.timeoutMs), expired: deadlinePassed }
  return cache.fill(key, read, async () => JSON.stringify(await runQuery(context, request)), wait)
}

/** Refreshes a stale entry in the background, for no client: no signal, no request record. */
async function refresh(
  context: RunContext,
  request: QueryRequest & { cache: CacheRequest },
  cache: TenantCache,
  key: string,
): Promise<void> {
  const plan = await cache.catalog.plan(request.sql)
  if (!('keys' in plan.read)) return
  const alone = { tenant: context.tenant, principal: context.principal }
  await fill(
    { ...alone, ...(context.requestId ? { requestId: context.requestId } : {}) },
    request,
    cache,
    key,
    plan.read.keys,
  )
}
