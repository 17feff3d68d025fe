/**
 * A fast check of a `/v1/query` body for the hot path: it accepts exactly the bodies that
 * `queryRequestSchema` accepts in their usual shape and returns the same value, and answers
 * `undefined` for anything else, so zod still validates (and words the error of) every body
 * that is not plainly valid. Errors stay zod's, byte for byte.
 */
import {
  CACHE_TAG_PATTERN,
  MAX_CACHE_TAGS,
  MAX_PARAMS,
  MAX_TIMEOUT_MS,
  type CacheRequest,
  type QueryRequest,
  type StreamRequest,
} from '../../src/protocol.js'

function isWireParam(value: unknown): boolean {
  return (
    value === null ||
    typeof value === 'string' ||
    typeof value === 'boolean' ||
    (typeof value === 'number' && Number.isFinite(value))
  )
}

/** The body as a {@link QueryRequest} when it is plainly valid, else `undefined`. */
export function quickQueryRequest(json: unknown): QueryRequest | undefined {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return undefined
  const body = json as Record<string, unknown>
  const sql = body.sql
  if (typeof sql !== 'string') return undefined
  // Unknown keys are dropped, as zod's object does.
  const request: QueryRequest = { sql }
  if (Object.hasOwn(body, 'params')) {
    const params = body.params
    if (!Array.isArray(params) || params.length > MAX_PARAMS) return undefined
    for (const value of params) if (!isWireParam(value)) return undefined
    request.params = params
  }
  if (Object.hasOwn(body, 'timeoutMs')) {
    const timeoutMs = body.timeoutMs
    if (
      typeof timeoutMs !== 'number' ||
      !Number.isSafeInteger(timeoutMs) ||
      timeoutMs <= 0 ||
      timeoutMs > MAX_TIMEOUT_MS
    ) {
      return undefined
    }
    request.timeoutMs = timeoutMs
  }
  if (Object.hasOwn(body, 'cache')) {
    const cache = quickCache(body.cache)
    if (cache === undefined) return undefined
    request.cache = cache
  }
  return request
}

function isWhole(value: unknown, min: number): value is number {
  return (
    typeof value === 'number' &&
    Number.isSafeInteger(value) &&
    value >= min &&
    value <= MAX_TIMEOUT_MS
  )
}

/** `cache` when plainly valid (only known keys, right types), else `undefined`. */
function quickCache(json: unknown): CacheRequest | undefined {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return undefined
  const cache: CacheRequest = {}
  for (const [key, value] of Object.entries(json)) {
    if (key === 'ttlMs' && isWhole(value, 1)) cache.ttlMs = value
    else if (key === 'swrMs' && isWhole(value, 0)) cache.swrMs = value
    else if (
      key === 'tags' &&
      Array.isArray(value) &&
      value.length <= MAX_CACHE_TAGS &&
      value.every((tag) => typeof tag === 'string' && CACHE_TAG_PATTERN.test(tag))
    )
      cache.tags = value as string[]
    else return undefined
  }
  return cache
}

/** {@link quickQueryRequest} for a streamed query, which may also carry `rowMode`. */
export function quickStreamRequest(json: unknown): StreamRequest | undefined {
  const request: StreamRequest | undefined = quickQueryRequest(json)
  if (request === undefined) return undefined
  const rowMode = (json as { rowMode?: unknown }).rowMode
  if (rowMode === undefined) return request
  if (rowMode !== 'array' && rowMode !== 'object') return undefined
  request.rowMode = rowMode
  return request
}
