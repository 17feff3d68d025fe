/**
 * Writing an answer no faster than its client reads it. A large JSON answer goes out in
 * slices of {@link SEND_CHUNK_CHARS}, each after the last one drained, so what waits in the
 * gateway for a slow client is the answer's text plus one slice, never a second copy of the
 * whole answer in a socket buffer. A client that reads nothing at all is cut off by the
 * send watchdog (./send-watchdog.ts) after `server.sendTimeoutMs`.
 */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { Context } from 'hono'

/** The write buffer's high-water mark: text handed to a socket at a time. */
export const SEND_CHUNK_CHARS = 64 * 1024

/** Where the slice that starts at `offset` ends, never between the halves of a surrogate pair. */
function sliceEnd(text: string, offset: number): number {
  const end = Math.min(offset + SEND_CHUNK_CHARS, text.length)
  const last = text.charCodeAt(end - 1)
  return end < text.length && last >= 0xd800 && last <= 0xdbff ? end - 1 : end
}

/**
 * Writes a whole answer to Node's `res` as the client reads it: text slice by slice, or
 * byte chunks one by one, each let go once written. Sets Content-Length.
 */
export function sendBody(
  res: ServerResponse,
  status: number,
  headers: OutgoingHttpHeaders,
  body: string | Buffer[],
): void {
  if (res.destroyed) return
  const length =
    typeof body === 'string'
      ? Buffer.byteLength(body)
      : body.reduce((sum, chunk) => sum + chunk.length, 0)
  res.writeHead(status, { ...headers, 'content-length': length })
  if (typeof body === 'string' && body.length <= SEND_CHUNK_CHARS) {
    res.end(body)
    return
  }
  let offset = 0
  let index = 0
  // The next piece to write, or undefined at the end.
  const piece = (): string | Buffer | undefined => {
    if (typeof body !== 'string') {
      const chunk = body[index]
      body[index++] = EMPTY
      return chunk
    }
    if (offset >= body.length) return undefined
    const end = sliceEnd(body, offset)
    const slice = body.slice(offset, end)
    offset = end
    return slice
  }
  let next = piece()
  const write = (): void => {
    while (!res.destroyed && next !== undefined) {
      const current = next
      next = piece()
      if (next === undefined) {
        res.end(current)
        return
      }
      if (!res.write(current)) {
        res.once('drain', write)
        return
      }
    }
  }
  write()
}

const EMPTY = Buffer.alloc(0)

/**
 * A web body for `text`: the text itself when small, else a stream of slices pulled as the
 * server writes them (@hono/node-server waits for each write to drain before pulling more).
 */
export function textBody(text: string): string | ReadableStream<Uint8Array> {
  if (text.length <= SEND_CHUNK_CHARS) return text
  const encoder = new TextEncoder()
  let offset = 0
  return new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        const end = sliceEnd(text, offset)
        controller.enqueue(encoder.encode(text.slice(offset, end)))
        offset = end
        if (offset >= text.length) controller.close()
      },
    },
    { highWaterMark: 0 },
  )
}

/** A JSON answer for a Hono route, its text sent by {@link textBody}. */
export function jsonAnswer(c: Context, value: unknown): Response {
  const text = JSON.stringify(value)
  return c.body(textBody(text), 200, {
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(text)),
  })
}
