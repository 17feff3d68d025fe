/**
 * The two places a stream can be written: Node's own response (the gateway's listener, so
 * its backpressure is the client's socket) and a web ReadableStream (a Hono app served
 * without Node objects, such as `app.request()` in tests), paced by its reader's pulls.
 */
import type { ServerResponse } from 'node:http'
import type { StreamTarget } from './stream-writer.js'

/** A target over Node's `res`; `extra` headers (CORS) join the stream's own. */
export function nodeTarget(res: ServerResponse, extra: Record<string, string> = {}): StreamTarget {
  return {
    open(headers) {
      res.writeHead(200, { ...headers, ...extra })
    },
    write: (bytes) => res.write(bytes),
    onDrain(listener) {
      res.once('drain', listener)
    },
    end(bytes) {
      res.end(bytes)
    },
    get closed() {
      return res.destroyed
    },
  }
}

/** A target over a web stream, with the stream and the headers `open` was given. */
export interface WebTarget extends StreamTarget {
  readonly body: ReadableStream<Uint8Array>
  /** Resolves with the headers once the answer opens. */
  readonly opened: Promise<Record<string, string>>
}

/** A target whose text becomes `body`; `onCancel` runs when its reader cancels it. */
export function webTarget(onCancel: () => void): WebTarget {
  let controller!: ReadableStreamDefaultController<Uint8Array>
  let drained: (() => void) | undefined
  let closed = false
  let open!: (headers: Record<string, string>) => void
  const opened = new Promise<Record<string, string>>((resolve) => (open = resolve))
  const body = new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c
      },
      pull() {
        const listener = drained
        drained = undefined
        listener?.()
      },
      cancel() {
        closed = true
        onCancel()
      },
    },
    // One chunk queued at most: more waits at the database.
    { highWaterMark: 1 },
  )
  return {
    body,
    opened,
    open,
    write(bytes) {
      controller.enqueue(bytes)
      return (controller.desiredSize ?? 0) > 0
    },
    onDrain(listener) {
      drained = listener
    },
    end(bytes) {
      controller.enqueue(bytes)
      controller.close()
      closed = true
    },
    get closed() {
      return closed
    },
  }
}
