/**
 * Reading a JSON request body, whatever its Content-Type, into a validated shape, or a
 * BAD_REQUEST that names the field and what was wrong with it.
 */
import type { Context } from 'hono'
import type { z } from 'zod'
import { SluiceError } from '../../src/errors.js'
import { requestText } from './node-request.js'

/**
 * Parses and validates the body of `c` with `schema`; an empty body is `empty` when given.
 * `quick`, when given, accepts plainly valid bodies without zod (see ./query-request.ts);
 * whatever it does not accept is validated by `schema`, so errors read the same.
 */
export async function readBody<T>(
  c: Context,
  schema: z.ZodType<T>,
  empty?: T,
  quick?: (json: unknown) => T | undefined,
): Promise<T> {
  return parseBody(await requestText(c), schema, empty, quick)
}

/** {@link readBody} for a body already read as `text`. */
export function parseBody<T>(
  text: string,
  schema: z.ZodType<T>,
  empty?: T,
  quick?: (json: unknown) => T | undefined,
): T {
  if (empty !== undefined && text.trim() === '') return empty
  let json: unknown
  try {
    json = text === '' ? undefined : JSON.parse(text)
  } catch {
    throw new SluiceError('BAD_REQUEST', 'the body is not valid JSON')
  }
  if (json === undefined)
    throw new SluiceError('BAD_REQUEST', 'the body is empty: send a JSON object')
  const fast = quick?.(json)
  if (fast !== undefined) return fast
  const parsed = schema.safeParse(json)
  if (parsed.success) return parsed.data
  const problems = parsed.error.issues.slice(0, 5).map((issue) => {
    const path = issue.path.length > 0 ? issue.path.join('.') : 'body'
    return `${path}: ${issue.message}`
  })
  throw new SluiceError('BAD_REQUEST', problems.join('; '))
}
