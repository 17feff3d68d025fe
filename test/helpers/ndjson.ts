/** Reading streamed answers (`Accept: application/x-ndjson`) in tests. */

/** A streamed answer, read whole: its status, content type and parsed lines. */
export interface StreamAnswer {
  status: number
  contentType: string | null
  requestId: string | null
  lines: any[]
}

/** Every line of an NDJSON body (or of a JSON error answer), parsed. */
function ndjsonLines(text: string): any[] {
  return text === ''
    ? []
    : text
        .replace(/\n$/, '')
        .split('\n')
        .map((line) => JSON.parse(line))
}

/** POSTs `body` to `url` asking for NDJSON and reads every line. */
export async function streamRequest(
  url: string,
  token: string,
  body: unknown,
  init: { fetch?: (url: string, init: RequestInit) => Promise<Response> | Response } = {},
): Promise<StreamAnswer> {
  const send = init.fetch ?? fetch
  const res = await send(url, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, Accept: 'application/x-ndjson' },
    body: JSON.stringify(body),
  })
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    requestId: res.headers.get('x-request-id'),
    lines: ndjsonLines(await res.text()),
  }
}

/** A COPY text value, unescaped by the rules of docs/protocol.md; `\N` is NULL. */
function copyTextValue(raw: string): string | null {
  if (raw === '\\N') return null
  return raw.replace(/\\(.)/g, (_, c: string) =>
    c === 't' ? '\t' : c === 'n' ? '\n' : c === 'r' ? '\r' : c,
  )
}

/**
 * POSTs `body` to `url` asking for COPY text (`accept` overrides the header) and reads every
 * line: the first and last as JSON, rows as arrays of values (none for a result without
 * columns).
 */
export async function copyTextRequest(
  url: string,
  token: string,
  body: unknown,
  accept = 'application/x-sluice-copy-text',
): Promise<StreamAnswer & { text: string }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, Accept: accept },
    body: JSON.stringify(body),
  })
  const text = await res.text()
  if (!res.headers.get('content-type')?.includes('copy-text')) {
    const contentType = res.headers.get('content-type')
    return { status: res.status, contentType, requestId: null, lines: ndjsonLines(text), text }
  }
  let columns = 0
  const lines = text
    .replace(/\n$/, '')
    .split('\n')
    .map((line) => {
      if (line.startsWith('\\{')) {
        const parsed = JSON.parse(line.slice(1))
        if (parsed.fields) columns = parsed.fields.length
        return parsed
      }
      return columns === 0 ? [] : line.split('\t').map(copyTextValue)
    })
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    requestId: res.headers.get('x-request-id'),
    lines,
    text,
  }
}
