/**
 * Reading a Neon `/sql` request: its option headers, its body (`{ query, params }` or
 * `{ queries }`, whatever the Content-Type) and its JSON parameters, which become the
 * PostgreSQL text that Neon's proxy would send.
 */
import type { Context } from 'hono'
import { z } from 'zod'
import { SluiceError } from '../../../src/errors.js'
import { MAX_BATCH_STATEMENTS, MAX_PARAMS, type IsolationLevel } from '../../../src/protocol.js'
import { readBody } from '../body.js'
import type { GatewayEnv } from '../env.js'
import {
  NEON_HEADERS,
  NEON_ISOLATION_LEVELS,
  type NeonBatch,
  type NeonIsolationLevel,
  type NeonJson,
  type NeonQuery,
} from './protocol.js'

/** What the `Neon-*` headers ask for. As in Neon, only the exact value `true` is true. */
export interface NeonOptions {
  rawTextOutput: boolean
  arrayMode: boolean
  isolation: IsolationLevel | undefined
  readOnly: boolean
  deferrable: boolean
}

// PostgreSQL runs READ UNCOMMITTED as READ COMMITTED, so asking for the latter is the same.
const ISOLATION: Record<NeonIsolationLevel, IsolationLevel> = {
  ReadUncommitted: 'read committed',
  ReadCommitted: 'read committed',
  RepeatableRead: 'repeatable read',
  Serializable: 'serializable',
}

function isNeonIsolationLevel(value: string): value is NeonIsolationLevel {
  return (NEON_ISOLATION_LEVELS as readonly string[]).includes(value)
}

/** Reads the `Neon-*` option headers; unknown headers are ignored. */
export function readNeonOptions(c: Context): NeonOptions {
  const isTrue = (name: string) => c.req.header(name) === 'true'
  const level = c.req.header(NEON_HEADERS.isolationLevel)
  if (level !== undefined && !isNeonIsolationLevel(level)) {
    throw new SluiceError(
      'BAD_REQUEST',
      `invalid isolation level: send ${NEON_HEADERS.isolationLevel} as one of ${NEON_ISOLATION_LEVELS.join(', ')}`,
    )
  }
  return {
    rawTextOutput: isTrue(NEON_HEADERS.rawTextOutput),
    arrayMode: isTrue(NEON_HEADERS.arrayMode),
    isolation: level === undefined ? undefined : ISOLATION[level],
    readOnly: isTrue(NEON_HEADERS.readOnly),
    deferrable: isTrue(NEON_HEADERS.deferrable),
  }
}

const neonQuery = {
  query: z.string(),
  params: z.array(z.json()).max(MAX_PARAMS).optional(),
  arrayMode: z.boolean().optional(),
}

const payloadSchema = z
  .object({
    ...neonQuery,
    query: neonQuery.query.optional(),
    queries: z.array(z.object(neonQuery)).max(MAX_BATCH_STATEMENTS).optional(),
  })
  .refine((body) => (body.query === undefined) !== (body.queries === undefined), {
    message: 'send {"query": "...", "params": [...]} for one statement or {"queries": [...]}',
  })

/** Reads the body: one statement, or a batch. */
export async function readNeonPayload(c: Context<GatewayEnv>): Promise<NeonQuery | NeonBatch> {
  const body = await readBody(c, payloadSchema)
  if (body.queries !== undefined) return { queries: body.queries as NeonQuery[] }
  return {
    query: body.query!,
    params: body.params as NeonJson[] | undefined,
    arrayMode: body.arrayMode,
  }
}

function quoteArrayElement(text: string): string {
  return `"${text.replace(/["\\]/g, '\\$&')}"`
}

/** A number or boolean as text; `-0` keeps its sign, which `String` and JSON drop. */
function numberText(value: number | boolean): string {
  return Object.is(value, -0) ? '-0' : String(value)
}

function arrayLiteral(values: readonly NeonJson[]): string {
  const items = values.map((value): string => {
    if (value === null) return 'NULL'
    if (Array.isArray(value)) return arrayLiteral(value)
    if (typeof value === 'string') return quoteArrayElement(value)
    if (typeof value === 'object') return quoteArrayElement(JSON.stringify(value))
    return numberText(value)
  })
  return `{${items.join(',')}}`
}

/**
 * A JSON parameter as PostgreSQL text, as Neon's proxy converts it: strings as they are,
 * numbers, booleans and objects as their JSON text, arrays as array literals.
 */
export function paramToText(value: NeonJson): string | null {
  if (value === null) return null
  if (typeof value === 'string') return value
  if (Array.isArray(value)) return arrayLiteral(value)
  if (typeof value === 'object') return JSON.stringify(value)
  return numberText(value)
}
