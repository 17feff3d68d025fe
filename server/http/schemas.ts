/**
 * zod schemas for request bodies, checked against the protocol's plain types in src/ so
 * the two cannot drift (and zod never reaches the edge bundle).
 */
import { z } from 'zod'
import {
  ISOLATION_LEVELS,
  type BatchRequest,
  type BeginRequest,
  type QueryRequest,
} from '../../src/protocol.js'

const timeoutMs = z.int().positive().max(86_400_000)

/** Body of `/v1/query` and of each batch statement. */
export const queryRequestSchema = z.object({
  sql: z.string(),
  params: z
    .array(z.union([z.string(), z.number(), z.boolean(), z.null()]))
    .max(65_535)
    .optional(),
  timeoutMs: timeoutMs.optional(),
}) satisfies z.ZodType<QueryRequest>

const transactionOptions = {
  isolation: z.enum(ISOLATION_LEVELS).optional(),
  readOnly: z.boolean().optional(),
  deferrable: z.boolean().optional(),
}

/** Body of `/v1/batch`. */
export const batchRequestSchema = z.object({
  statements: z.array(queryRequestSchema).min(1).max(1000),
  ...transactionOptions,
  timeoutMs: timeoutMs.optional(),
}) satisfies z.ZodType<BatchRequest>

/** Body of `POST /v1/transactions`. */
export const beginRequestSchema = z.object({
  ...transactionOptions,
  idleTimeoutMs: timeoutMs.optional(),
  timeoutMs: timeoutMs.optional(),
}) satisfies z.ZodType<BeginRequest>
