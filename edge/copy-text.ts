/**
 * Reading a stream's COPY text lines (docs/protocol.md "Streaming results"): a line that
 * begins with a backslash and `{` is JSON (the fields, the summary or an error); any other
 * line is a row, its values separated by tabs, `\N` for NULL and backslash escapes inside
 * values. Splitting lines and values costs far less than parsing a JSON string per value,
 * which is what makes this format the streams' default.
 */

const BACKSLASH = 92
const BRACE = 123

/** A value with escapes in it, unescaped; `\N` alone is NULL. */
function unescape(raw: string): string | null {
  if (raw === '\\N') return null
  return raw.replace(/\\(.)/g, (_, c: string) =>
    c === 't' ? '\t' : c === 'n' ? '\n' : c === 'r' ? '\r' : c,
  )
}

/**
 * The lines of `text` up to `end` (a newline's index: the text holds complete lines only):
 * rows as arrays of their text values (one empty value for an empty line), the JSON lines
 * parsed.
 */
export function copyTextLines(text: string, end: number): unknown[] {
  const lines: unknown[] = []
  let start = 0
  while (start <= end) {
    let lineEnd = text.indexOf('\n', start)
    if (lineEnd < 0 || lineEnd > end) lineEnd = end
    if (text.charCodeAt(start) === BACKSLASH && text.charCodeAt(start + 1) === BRACE) {
      lines.push(JSON.parse(text.slice(start + 1, lineEnd)))
    } else {
      const values: (string | null)[] = []
      let from = start
      for (;;) {
        let tab = text.indexOf('\t', from)
        if (tab < 0 || tab > lineEnd) tab = lineEnd
        const raw = text.slice(from, tab)
        values.push(raw.includes('\\') ? unescape(raw) : raw)
        if (tab === lineEnd) break
        from = tab + 1
      }
      lines.push(values)
    }
    start = lineEnd + 1
  }
  return lines
}
