/** Reading streamed answers (`Accept: application/x-ndjson`) in tests. */

/** A streamed answer, read whole: its status, content type and parsed lines. */
export interface StreamAnswer {
  status: number
  contentType: string | null
  requestId: string | null
  lines: any[]
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
  const text = await res.text()
  const lines =
    text === ''
      ? []
      : text
          .replace(/\n$/, '')
          .split('\n')
          .map((line) => JSON.parse(line))
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    requestId: res.headers.get('x-request-id'),
    lines,
  }
}
