/**
 * A `fetch` over node:http with a chosen agent, so the benchmark decides whether each
 * request reuses a kept-alive connection or opens a new one (the edge client takes any
 * `fetch`, as Workers and Lambda give it one).
 */
import { request, type Agent } from 'node:http'

/** A `fetch` that sends through `agent` (`false`: a new connection, closed after). */
export function fetchWithAgent(agent: Agent | false): typeof fetch {
  return function agentFetch(input, init) {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url)
    const headers: Record<string, string> = {}
    new Headers(init?.headers).forEach((value, key) => {
      headers[key] = value
    })
    const body = typeof init?.body === 'string' ? init.body : undefined
    if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body))
    if (agent === false) headers.connection = 'close'
    return new Promise<Response>((resolve, reject) => {
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname + url.search,
          method: init?.method ?? 'GET',
          headers,
          agent,
        },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (chunk: Buffer) => chunks.push(chunk))
          res.on('error', reject)
          res.on('end', () => {
            const responseHeaders = new Headers()
            for (const [key, value] of Object.entries(res.headers)) {
              if (typeof value === 'string') responseHeaders.set(key, value)
            }
            resolve(
              new Response(Buffer.concat(chunks), {
                status: res.statusCode ?? 500,
                headers: responseHeaders,
              }),
            )
          })
        },
      )
      req.on('error', reject)
      req.end(body)
    })
  }
}
