/**
 * Reading a JSON request body, whatever its Content-Type, into a validated shape, or a
 * BAD_REQUEST that names the field and what was wrong with it. Bodies nested deeper than
 * {@link MAX_JSON_DEPTH} are refused before they are parsed, and bodies with a number that
 * parsing would change (`12345678901234567890` read as `12345678901234567000`) after.
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

/** What {@link scanJson} found in JSON text. */
export interface JsonScan {
  /** The deepest nesting of `[` and `{`. */
  depth: number
  /** The first number a double cannot hold (see {@link holdsExactly}), as written. */
  inexact: string | undefined
}

/** A number token's value as `digits` and a power of ten (`-12.50e1` → `-125e0`), zero as `0`. */
function decimalOf(token: string): string {
  const negative = token.charCodeAt(0) === 45
  const e = token.search(/[eE]/)
  const mantissa = token.slice(negative ? 1 : 0, e < 0 ? token.length : e)
  const dot = mantissa.indexOf('.')
  const whole = dot < 0 ? mantissa : mantissa.slice(0, dot)
  let digits = whole + (dot < 0 ? '' : mantissa.slice(dot + 1))
  let exponent = (e < 0 ? 0 : Number(token.slice(e + 1))) - (digits.length - whole.length)
  digits = digits.replace(/^0+/, '')
  const trailing = digits.length - digits.replace(/0+$/, '').length
  if (digits.length === trailing) return '0'
  exponent += trailing
  return `${negative ? '-' : ''}${digits.slice(0, digits.length - trailing)}e${exponent}`
}

/**
 * Whether the number `token` (JSON number syntax) reaches PostgreSQL with its value: it is
 * read as a double and sent as `String(double)`, which must be the same decimal number
 * (`1.10` as `1.1` is; `12345678901234567890` as `12345678901234567000` is not).
 */
export function holdsExactly(token: string): boolean {
  const value = Number(token)
  return Number.isFinite(value) && decimalOf(String(value)) === decimalOf(token)
}

/**
 * The deepest nesting of `[` and `{` in JSON text and its first number a double cannot hold,
 * strings skipped, in one pass.
 */
export function scanJson(text: string): JsonScan {
  let depth = 0
  let deepest = 0
  let inexact: string | undefined
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
    else if (c === 45 || (c >= 48 && c <= 57)) {
      // A number: up to 15 digits and no exponent always round-trip through a double.
      const start = i
      let exponent = false
      for (; i + 1 < text.length; i++) {
        const d = text.charCodeAt(i + 1)
        if (d === 101 || d === 69) exponent = true
        else if (!((d >= 48 && d <= 57) || d === 46 || d === 43 || d === 45)) break
      }
      if (inexact === undefined && (exponent || i - start >= 15)) {
        const token = text.slice(start, i + 1)
        if (!holdsExactly(token)) inexact = token
      }
    }
  }
  return { depth: deepest, inexact }
}

/** {@link readBody} for a body already read as `text`. */
export function parseBody<T>(
  text: string,
  schema: z.ZodType<T>,
  empty?: T,
  quick?: (json: unknown) => T | undefined,
): T {
  if (empty !== undefined && text.trim() === '') return empty
  const scan = scanJson(text)
  if (scan.depth > MAX_JSON_DEPTH) {
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
  if (scan.inexact !== undefined) {
    // Parsed, it became another number: a parameter would reach PostgreSQL changed, silently.
    const shown = scan.inexact.length > 40 ? `${scan.inexact.slice(0, 40)}…` : scan.inexact
    throw new SluiceError(
      'BAD_REQUEST',
      `the body holds the number ${shown}, which JSON parsing would change (it reads numbers as doubles): send it as a string to keep every digit`,
    )
  }
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
