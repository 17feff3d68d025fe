/**
 * The `sql` tagged template: every interpolated value becomes a `$n` parameter, never text
 * spliced into the statement. Three things compose instead of becoming parameters: a nested
 * `sql` fragment (inlined, its parameters renumbered), `sql.identifier(…)` (a quoted name)
 * and `sql.unsafe(…)` (text taken as written, for the caller to vouch for).
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

/** The tag, with its helpers for what cannot be a parameter. */
export interface SqlTag {
  /**
   * Builds a {@link SqlQuery} from a template.
   * @example
   * const q = sql`select * from users where id = ${id} and org = ${org}`
   * // { text: 'select * from users where id = $1 and org = $2', values: [id, org] }
   */
  <Row = Record<string, unknown>>(
    template: TemplateStringsArray,
    ...values: unknown[]
  ): SqlQuery<Row>
  /**
   * A table, column or schema name, double-quoted as PostgreSQL wants (a `"` inside is
   * doubled), so any string is read as a name and never as SQL. Several parts make a
   * qualified name. Throws a `TypeError` for no part, an empty part, a NUL or a non-string.
   * @example sql`select * from ${sql.identifier('app', 'users')}` // select * from "app"."users"
   */
  identifier(...parts: string[]): SqlQuery<never>
  /**
   * Text spliced into the statement exactly as given: **never** pass it anything a user
   * sent. For SQL the tag cannot express (a sort direction, a keyword chosen in code).
   * @example sql`select * from users order by id ${sql.unsafe(desc ? 'desc' : 'asc')}`
   */
  unsafe(text: string): SqlQuery<never>
}

interface Parts {
  strings: readonly string[]
  values: readonly unknown[]
}

function fragment(strings: readonly string[], values: readonly unknown[]): SqlQuery<never> {
  const text = strings.reduce((all, part, i) => `${all}$${i}${part}`)
  // The parts ride along under a symbol, invisible to JSON and to spreading by mistake.
  return Object.defineProperty({ text, values }, FRAGMENT, { value: { strings, values } })
}

function build(template: TemplateStringsArray, ...values: unknown[]): SqlQuery<never> {
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
  return fragment(strings, params)
}

/** The `sql` tag: see {@link SqlTag}. */
export const sql: SqlTag = Object.assign(build, {
  identifier: (...parts: string[]) => {
    if (!parts.length || parts.some((part) => typeof part != 'string' || !/^[^\0]+$/.test(part))) {
      throw new TypeError('sql.identifier needs non-empty strings without NUL')
    }
    return fragment([parts.map((part) => `"${part.replace(/"/g, '""')}"`).join('.')], [])
  },
  unsafe: (text: string) => fragment([String(text)], []),
}) as SqlTag
