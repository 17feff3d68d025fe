/**
 * Parsing PostgreSQL's array text output (`{1,NULL,"a \"b\""}`, nested `{{1,2},{3,4}}`,
 * with bounds `[0:1]={…}`) as node-postgres's postgres-array does. Writing arrays is in
 * ./serialize.ts, with the other parameter values.
 */

/** An array of parsed elements, nested as deep as the PostgreSQL array. */
export type PgArray<T> = (T | null | PgArray<T>)[]

/**
 * Parses an array literal, turning each non-NULL element with `parseElement`. An unquoted
 * `NULL` is null; a quoted `"NULL"` is the string.
 */
export function parseArray<T = string>(
  text: string,
  parseElement: (element: string) => T = (element) => element as T,
): PgArray<T> {
  let position = 0
  // Skip explicit bounds such as `[0:1]=`.
  if (text[0] === '[') position = text.indexOf('=') + 1
  // The arrays open at this point, innermost last.
  const open: PgArray<T>[] = []
  let root: PgArray<T> = []
  let recorded = ''
  let quoted = false
  let wasQuoted = false
  const end = (): void => {
    if (recorded !== '' || wasQuoted) {
      open.at(-1)?.push(!wasQuoted && recorded === 'NULL' ? null : parseElement(recorded))
    }
    recorded = ''
    wasQuoted = false
  }
  while (position < text.length) {
    const char = text[position++]!
    // A backslash escapes the next character, in quotes or not.
    if (char === '\\') {
      recorded += text[position++] ?? ''
      continue
    }
    if (quoted) {
      if (char === '"') quoted = false
      else recorded += char
    } else if (char === '"') {
      quoted = wasQuoted = true
    } else if (char === '{') {
      const next: PgArray<T> = []
      if (open.length > 0) open.at(-1)!.push(next)
      else root = next
      open.push(next)
    } else if (char === '}') {
      end()
      open.pop()
    } else if (char === ',') {
      end()
    } else recorded += char
  }
  if (open.length > 0) throw new SyntaxError('array dimension not balanced')
  return root
}
