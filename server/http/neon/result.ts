/**
 * Shaping a statement's result as Neon answers it: pg-style `fields` (with `format`), rows
 * as arrays or as objects keyed by column name, PostgreSQL's text or typed JSON values,
 * `command`, `rowCount` and `rowAsArray`. The result is JSON text, so typed json/jsonb
 * values can be embedded exactly as PostgreSQL printed them.
 */
import type { QueryResult } from '../../../src/protocol.js'
import type { NeonField } from './protocol.js'
import { typedValue, typedValueJson } from './typed-values.js'

/** How to print rows. */
export interface RowFormat {
  arrayMode: boolean
  rawTextOutput: boolean
}

/** The `fields` of a result, as pg's `FieldDef`. */
export function neonFields(result: QueryResult): NeonField[] {
  return result.fields.map((field) => ({
    name: field.name,
    dataTypeID: field.dataTypeID,
    tableID: field.tableID ?? 0,
    columnID: field.columnID ?? 0,
    dataTypeSize: field.dataTypeSize ?? -1,
    dataTypeModifier: field.dataTypeModifier ?? -1,
    format: 'text',
  }))
}

function rawRowsJson(result: QueryResult, arrayMode: boolean): string {
  if (arrayMode) return JSON.stringify(result.rows)
  const names = result.fields.map((field) => field.name)
  return JSON.stringify(
    result.rows.map((row) => Object.fromEntries(row.map((value, i) => [names[i], value]))),
  )
}

function typedRowsJson(result: QueryResult, arrayMode: boolean): string {
  const { fields } = result
  const keys = fields.map((field) => `${JSON.stringify(field.name)}:`)
  const rows = result.rows.map((row) => {
    const values = row.map((text, i) => typedValueJson(typedValue(text, fields[i]!.dataTypeID)))
    return arrayMode
      ? `[${values.join(',')}]`
      : `{${values.map((value, i) => keys[i] + value).join(',')}}`
  })
  return `[${rows.join(',')}]`
}

/** One statement's result as Neon's JSON text. */
export function neonResultJson(result: QueryResult, format: RowFormat): string {
  const head = JSON.stringify({
    fields: neonFields(result),
    command: result.command,
    rowCount: result.rowCount,
    rowAsArray: format.arrayMode,
  })
  const rows = format.rawTextOutput
    ? rawRowsJson(result, format.arrayMode)
    : typedRowsJson(result, format.arrayMode)
  return `${head.slice(0, -1)},"rows":${rows}}`
}
