/**
 * The `sql` tagged template: every interpolated value becomes a `$n` parameter, never text
 * spliced into the statement. A nested `sql` fragment is inlined with its parameters
 * renumbered, so conditions can be composed safely.
 */

declare const ROW: unique symbol
const FRAGMENT = Symbol.for('sluice.sql')

/**
 * A statement and its parameters, node-postgres's `{ text, values }` shape. `Row` is a
 * type-only tag carried to `query` and `batch`.
 */
export interface SqlQuery<Row = Record<string, unknown>> {
  readonly text: string
  readonly values: readonly unknown[]
  /** Type only: the row type this statement returns. */
  readonly [ROW]?: Row
}

interface Parts {
  strings: string[]
  values: unknown[]
}

/**
 * Builds a {@link SqlQuery} from a template.
 * @example
 * const q = sql`select * from users where id = ${id} and org = ${org}`
 * // { text: 'select * from users where id = $1 and org = $2', values: [id, org] }
 */
export function sql<Row = Record<string, unknown>>(
  template: TemplateStringsArray,
  ...values: unknown[]
): SqlQuery<Row> {
  const strings: string[] = []
  const params: unknown[] = []
  let last = template[0] ?? ''
  values.forEach((value, i) => {
    const nested = (value as { [FRAGMENT]?: Parts } | null | undefined)?.[FRAGMENT]
    if (nested) {
      const [first = '', ...rest] = nested.strings
      last += first
      for (const string of rest) {
        strings.push(last)
        last = string
      }
      params.push(...nested.values)
    } else {
      strings.push(last)
      last = ''
      params.push(value)
    }
    last += template[i + 1] ?? ''
  })
  strings.push(last)
  const parts: Parts = { strings, values: params }
  const text = parts.strings.reduce((all, part, i) => `${all}$${i}${part}`)
  // The parts ride along under a symbol, invisible to JSON and to spreading by mistake.
  return Object.defineProperty({ text, values: parts.values }, FRAGMENT, { value: parts })
}
