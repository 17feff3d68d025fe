/**
 * Reading a JSON request body, whatever its Content-Type, into a validated shape, or a
 * BAD_REQUEST that names the field and what was wrong with it. Bodies nested deeper than
 * {@link MAX_JSON_DEPTH} are refused before they are parsed.
 */
import type { Context } from 'hono'
import type { z } from 'zod'
import { SluiceError } from '../../src/errors.js'
import type { GatewayEnv } from './env.js'
import { requestText } from './node-request.js'

/** Deepest nesting of arrays and objects a request body may have. */
export const MAX_JSON_DEPTH = 64

/**
 * Parses and validates the body of `c` with `schema`; an empty body is `empty` when given.
 * `quick`, when given, accepts plainly valid bodies without zod (see ./query-request.ts);
 * whatever it does not accept is validated by `schema`, so errors read the same.
 */
export async function readBody<T>(
  c: Context<GatewayEnv>,
  schema: z.ZodType<T>,
  empty?: T,
  quick?: (json: unknown) => T | undefined,
): Promise<T> {
  return parseBody(await requestText(c, c.get('bodyLimitBytes')), schema, empty, quick)
}

/** The deepest nesting of `[` and `{` in JSON text, strings skipped. */
export function jsonDepth(text: string): number {
  let depth = 0
  let deepest = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 34) {
      // A string: skip to its closing quote, escapes included.
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i)
        if (d === 92) i++
        else if (d === 34) break
      }
    } else if (c === 91 || c === 123) {
      if (++depth > deepest) deepest = depth
    } else if (c === 93 || c === 125) depth--
  }
  return deepest
}

/** {@link readBody} for a body already read as `text`. */
export function parseBody<T>(
  text: string,
  schema: z.ZodType<T>,
  empty?: T,
  quick?: (json: unknown) => T | undefined,
): T {
  if (empty !== undefined && text.trim() === '') return empty
  if (jsonDepth(text) > MAX_JSON_DEPTH) {
    throw new SluiceError(
      'BAD_REQUEST',
      `the body nests arrays or objects more than ${MAX_JSON_DEPTH} levels deep`,
    )
  }
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
