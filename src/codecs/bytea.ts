/**
 * bytea in PostgreSQL's text forms: hex (`\x0102`, the default output since 9.0 and what
 * the client sends) and the older escape format, which a server with
 * `bytea_output = escape` still prints.
 */

/** Bytes as PostgreSQL's hex text form, `\x` followed by two hex digits a byte. */
export function encodeBytea(bytes: Uint8Array): string {
  let text = '\\x'
  for (const byte of bytes) text += (byte < 16 ? '0' : '') + byte.toString(16)
  return text
}

/** Bytes from either of PostgreSQL's bytea text forms (as node-postgres's postgres-bytea). */
export function parseBytea(text: string): Uint8Array {
  const bytes: number[] = []
  if (text.startsWith('\\x')) {
    for (let i = 2; i < text.length; i += 2) bytes.push(parseInt(text.slice(i, i + 2), 16))
  } else {
    // Escape format: `\\` is a backslash, `\ooo` an octal byte, anything else itself.
    text.replace(/\\(\\|[0-7]{3})|[^]/g, (char, escaped?: string) => {
      bytes.push(
        escaped === undefined ? char.charCodeAt(0) : escaped === '\\' ? 92 : parseInt(escaped, 8),
      )
      return ''
    })
  }
  return Uint8Array.from(bytes)
}
