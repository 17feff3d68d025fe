/**
 * The client's errors. What the gateway answers is rebuilt from the protocol's error body as
 * a {@link GatewayError} (a {@link DatabaseError} when PostgreSQL raised it), with the same
 * stable codes; what the client sees without an answer has codes of its own. Every guard
 * works across realms and bundled copies (a brand, not `instanceof`).
 */
import {
  DATABASE_ERROR_FIELDS,
  SluiceError,
  isSluiceError,
  type ErrorCode,
  type ErrorPayload,
} from '../src/errors.js'
import type { StandardSchemaV1 } from './standard-schema.js'

/**
 * Codes of failures the client detects itself:
 * - `NETWORK_ERROR`: fetch failed; `retryable` when the request provably never left.
 * - `CLIENT_TIMEOUT`: the call's `timeoutMs` passed (the request was aborted).
 * - `BAD_RESPONSE`: an answer that is not the protocol's (a proxy's error page, say).
 * - `VALIDATION_ERROR`: a row failed the `schema` given to `query`.
 */
export type ClientErrorCode =
  'NETWORK_ERROR' | 'CLIENT_TIMEOUT' | 'BAD_RESPONSE' | 'VALIDATION_ERROR'

const CLIENT = Symbol.for('sluice.client-error')
const GATEWAY = Symbol.for('sluice.gateway-error')

/** Options of {@link ClientError}. */
export interface ClientErrorOptions {
  retryable?: boolean
  /** The HTTP status of a `BAD_RESPONSE`. */
  status?: number
  /** A `VALIDATION_ERROR`'s issues, as the schema reported them. */
  issues?: readonly StandardSchemaV1.Issue[]
  cause?: unknown
}

/** A failure with no error answer from the gateway. */
export class ClientError extends Error {
  declare readonly code: ClientErrorCode
  /** True only when retrying is safe: the request never reached the gateway. */
  declare readonly retryable: boolean
  /** The HTTP status of a `BAD_RESPONSE`. */
  declare readonly status?: number
  /** A `VALIDATION_ERROR`'s issues, as the schema reported them. */
  declare readonly issues?: readonly StandardSchemaV1.Issue[]

  constructor(code: ClientErrorCode, message: string, options: ClientErrorOptions = {}) {
    const { cause, retryable, ...rest } = options
    super(message, { cause })
    this.code = code
    this.retryable = retryable ?? false
    this.name = 'ClientError'
    Object.assign(this, rest)
    Object.defineProperty(this, CLIENT, { value: true })
  }
}

/**
 * An error the gateway answered with: its stable `code`, `retryable`, the request id and,
 * for a batch, the failing statement's index.
 */
export class GatewayError extends SluiceError {
  /** The `X-Request-Id` of the answer, to find the request in the gateway's logs. */
  declare readonly requestId: string | undefined
  /** Index of the failing statement of a batch. */
  declare readonly statementIndex?: number

  constructor(payload: ErrorPayload, requestId?: string, retryAfter?: number) {
    const { code, message, ...fields } = payload
    super(code, message, { ...fields, retryAfter })
    this.requestId = requestId
    this.name = 'GatewayError'
    // The protocol's fields only, whatever else a body may carry.
    for (const field of [...DATABASE_ERROR_FIELDS, 'statementIndex'] as const) {
      if (payload[field] !== undefined) (this as Record<string, unknown>)[field] = payload[field]
    }
    Object.defineProperty(this, GATEWAY, { value: true })
  }
}

/**
 * An error PostgreSQL raised, with its SQLSTATE and whichever fields it sent. Its `code` is
 * the gateway's (`DATABASE_ERROR`, or `CONFLICT` for a serialization failure, …).
 */
export class DatabaseError extends GatewayError {
  declare readonly sqlstate: string
  declare readonly severity?: string
  declare readonly detail?: string
  declare readonly hint?: string
  declare readonly position?: string
  declare readonly internalPosition?: string
  declare readonly internalQuery?: string
  declare readonly schema?: string
  declare readonly table?: string
  declare readonly column?: string
  declare readonly dataType?: string
  declare readonly constraint?: string
  declare readonly where?: string

  constructor(payload: ErrorPayload, requestId?: string, retryAfter?: number) {
    super(payload, requestId, retryAfter)
    this.name = 'DatabaseError'
  }
}

/** True for a {@link ClientError}, from any realm. */
export function isClientError(value: unknown): value is ClientError {
  return typeof value === 'object' && value !== null && CLIENT in value
}

/** True for a {@link GatewayError} (so also a {@link DatabaseError}), from any realm. */
export function isGatewayError(value: unknown): value is GatewayError {
  return isSluiceError(value) && GATEWAY in value
}

/** True for a {@link DatabaseError}, from any realm. */
export function isDatabaseError(value: unknown): value is DatabaseError {
  return isGatewayError(value) && typeof (value as { sqlstate?: unknown }).sqlstate === 'string'
}

/** Rebuilds the error of an answer from its body, or BAD_RESPONSE when it is not the protocol's. */
export function errorFromResponse(body: unknown, response: Response): GatewayError | ClientError {
  const payload = (body as { error?: Partial<ErrorPayload> } | undefined)?.error
  if (typeof payload?.code !== 'string' || typeof payload.message !== 'string') {
    return new ClientError(
      'BAD_RESPONSE',
      `unexpected answer from the gateway (HTTP ${response.status})`,
      { status: response.status },
    )
  }
  const full = { ...payload, retryable: payload.retryable === true } as ErrorPayload
  const requestId = response.headers.get('x-request-id') ?? undefined
  const seconds = Number(response.headers.get('retry-after') ?? NaN)
  const retryAfter = Number.isFinite(seconds) ? seconds : undefined
  const Class = typeof full.sqlstate === 'string' ? DatabaseError : GatewayError
  return new Class(full, requestId, retryAfter)
}

/** Every code a client call can fail with. */
export type ClientCallErrorCode = ErrorCode | ClientErrorCode
