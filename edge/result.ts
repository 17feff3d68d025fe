/**
 * From the wire's text rows to JS values: each column parsed by its type OID, rows as
 * objects (or arrays in array mode), then checked against a Standard Schema if given.
 */
import { getTypeParser, type ParseOptions } from '../src/codecs/parse.js'
import type { FieldDescription, QueryResult as WireResult } from '../src/protocol.js'
import { ClientError } from './errors.js'
import type { StandardSchemaV1 } from './standard-schema.js'

/** A decoded result. */
export interface QueryResult<Row> {
  rows: Row[]
  /** Column names and type OIDs, in order. */
  fields: FieldDescription[]
  /** From the command tag: rows returned or affected; null where PostgreSQL gives none. */
  rowCount: number | null
  /** The command tag's verb: `SELECT`, `INSERT`, … */
  command: string
}

/** How a result is decoded. */
export interface DecodeOptions extends ParseOptions {
  /** `array`: each row is an array of values in column order. @default 'object' */
  rowMode?: 'object' | 'array' | undefined
  /** A Standard Schema (zod, valibot, arktype, …) every row must pass; rows become its output. */
  schema?: StandardSchemaV1 | undefined
}

function describe({ path = [], message }: StandardSchemaV1.Issue): string {
  const steps = path.map((step) => String(typeof step === 'object' ? step.key : step))
  return steps.length > 0 ? `${steps.join('.')}: ${message}` : message
}

/**
 * A row as an object keyed by column name (a plain loop: far cheaper than fromEntries). Of
 * two columns with one name, the later wins, as in pg.
 */
export function rowObject(fields: readonly FieldDescription[], values: readonly unknown[]): object {
  let row: Record<string, unknown> = {}
  for (let i = 0; i < fields.length; i++) {
    const name = fields[i]!.name
    // Assigned, a column named `__proto__` would be no key but the row's prototype: its value
    // lost, and a json value's keys showing through as the row's own (`row.isAdmin`). Spread
    // defines an own key instead, which assignment then sets.
    if (name === '__proto__') row = { ...row, [name]: 0 }
    row[name] = values[i]
  }
  return row
}

/** Decodes a wire result. */
export async function decodeResult(
  wire: WireResult,
  options: DecodeOptions,
): Promise<QueryResult<unknown>> {
  const parsers = wire.fields.map((field) => getTypeParser(field.dataTypeID, options))
  const rows: unknown[] = wire.rows.map((row) => {
    const values = row.map((text, i) => (text === null ? null : parsers[i]!(text)))
    return options.rowMode === 'array' ? values : rowObject(wire.fields, values)
  })
  const { schema } = options
  // Each row becomes the schema's output, in place: the array is this result's own.
  for (let i = 0; schema && i < rows.length; i++) {
    const outcome = await schema['~standard'].validate(rows[i])
    if (outcome.issues) {
      throw new ClientError(
        'VALIDATION_ERROR',
        `row ${i} does not match the schema: ${outcome.issues.map(describe).join('; ')}`,
        { issues: outcome.issues },
      )
    }
    rows[i] = outcome.value
  }
  // The wire result's command, rowCount and fields, with the rows decoded.
  return { ...wire, rows }
}
