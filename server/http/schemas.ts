/**
 * zod schemas for request bodies, checked against the protocol's plain types in src/ so
 * the two cannot drift (and zod never reaches the edge bundle).
 */
import { z } from 'zod'
import {
  CACHE_TAG_PATTERN,
  ISOLATION_LEVELS,
  MAX_CACHE_TAGS,
  MAX_BATCH_STATEMENTS,
  MAX_PARAMS,
  MAX_TIMEOUT_MS,
  type BatchRequest,
  type BeginRequest,
  type CacheRequest,
  type QueryRequest,
  type StreamRequest,
} from '../../src/protocol.js'

const timeoutMs = z.int().positive().max(MAX_TIMEOUT_MS)

/** `cache` of a `/v1/query` body (docs/cache.md). */
export const cacheRequestSchema = z
  .object({
    ttlMs: z.int().positive().max(MAX_TIMEOUT_MS).optional(),
    swrMs: z.int().min(0).max(MAX_TIMEOUT_MS).optional(),
    tags: z
      .array(
        z.string().regex(CACHE_TAG_PATTERN, {
          error: 'a tag is 1 to 64 characters of A-Z a-z 0-9 _ . : / -',
        }),
      )
      .max(MAX_CACHE_TAGS)
      .optional(),
  })
  .strict() satisfies z.ZodType<CacheRequest>

/** Body of `/v1/query` and of each batch statement (`cache` counts on `/v1/query` only). */
export const queryRequestSchema = z.object({
  sql: z.string(),
  params: z
    .array(z.union([z.string(), z.number(), z.boolean(), z.null()]))
    .max(MAX_PARAMS)
    .optional(),
  timeoutMs: timeoutMs.optional(),
  cache: cacheRequestSchema.optional(),
}) satisfies z.ZodType<QueryRequest>

/** Body of a streamed `/v1/query` or transaction query. */
export const streamRequestSchema = queryRequestSchema.extend({
  rowMode: z.enum(['array', 'object']).optional(),
}) satisfies z.ZodType<StreamRequest>

const transactionOptions = {
  isolation: z.enum(ISOLATION_LEVELS).optional(),
  readOnly: z.boolean().optional(),
  deferrable: z.boolean().optional(),
}

/** Body of `/v1/batch`. */
export const batchRequestSchema = z.object({
  statements: z.array(queryRequestSchema).min(1).max(MAX_BATCH_STATEMENTS),
  ...transactionOptions,
  timeoutMs: timeoutMs.optional(),
}) satisfies z.ZodType<BatchRequest>

/** Body of `POST /v1/transactions`. */
export const beginRequestSchema = z.object({
  ...transactionOptions,
  idleTimeoutMs: timeoutMs.optional(),
  timeoutMs: timeoutMs.optional(),
}) satisfies z.ZodType<BeginRequest>
