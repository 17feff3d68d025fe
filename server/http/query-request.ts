/**
 * A fast check of a `/v1/query` body for the hot path: it accepts exactly the bodies that
 * `queryRequestSchema` accepts in their usual shape and returns the same value, and answers
 * `undefined` for anything else, so zod still validates (and words the error of) every body
 * that is not plainly valid. Errors stay zod's, byte for byte.
 */
import {
  MAX_PARAMS,
  MAX_TIMEOUT_MS,
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
  return request
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
