/**
 * Cheap access to the Node request under @hono/node-server. Hono's `c.req.raw` is a
 * lightweight object until a handler touches its body or signal; then the adapter builds a
 * full web Request, an AbortController and a ReadableStream over the socket, which costs
 * more than the rest of a `SELECT 1`. Both paths read the body and the disconnect signal
 * from Node's own objects instead, and fall back to the web Request only where there is no
 * Node request (`app.request()` in tests, other runtimes).
 */
import { isUtf8 } from 'node:buffer'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Context } from 'hono'
import { SluiceError } from '../../src/errors.js'
import { clientClosed, payloadTooLarge } from '../errors.js'
import { LightSignal, type AbortLike } from '../lifecycle/abort.js'

interface NodeBindings {
  incoming?: IncomingMessage
  outgoing?: ServerResponse
}

/** The Node request and response behind a Hono context, when there are any. */
export function nodeBindings(c: Context): NodeBindings {
  const env = c.env as NodeBindings | undefined
  return env !== null && typeof env === 'object' ? env : {}
}

// Each response's signal, as a property of it: a WeakMap entry per request costs the
// scavenger (ephemerons) on the path every request takes.
const SIGNAL = Symbol('sluice.disconnectSignal')

type Signalled = ServerResponse & { [SIGNAL]?: LightSignal }

/**
 * Aborts when the client goes away before its response is written: the same condition as
 * @hono/node-server's own `c.req.raw.signal`. One signal per request.
 */
export function requestSignal(c: Context): AbortLike {
  const { incoming, outgoing } = nodeBindings(c)
  if (!incoming || !outgoing || typeof outgoing.once !== 'function') return c.req.raw.signal
  return disconnectSignal(incoming, outgoing)
}

/** {@link requestSignal} for Node's own request and response (no EventTarget: ../lifecycle/abort.ts). */
export function disconnectSignal(incoming: IncomingMessage, outgoing: ServerResponse): LightSignal {
  const existing = (outgoing as Signalled)[SIGNAL]
  if (existing) return existing
  const created = new LightSignal()
  ;(outgoing as Signalled)[SIGNAL] = created
  const onClose = () => {
    if (incoming.errored || !outgoing.writableFinished) created.abort()
  }
  if (outgoing.closed) onClose()
  else outgoing.once('close', onClose)
  return created
}

/**
 * The request body as text, at most `maxBytes` of it (PAYLOAD_TOO_LARGE past that, chunked
 * bodies included), read from Node's stream when there is one.
 */
export async function requestText(c: Context, maxBytes: number): Promise<string> {
  const { incoming } = nodeBindings(c)
  const unread = incoming && incoming.readableFlowing === null && !incoming.readableEnded
  if (incoming && (unread || keptBody(incoming) !== undefined))
    return readNodeBody(incoming, maxBytes)
  const bytes = await c.req.arrayBuffer()
  if (bytes.byteLength > maxBytes) throw payloadTooLarge(maxBytes)
  return utf8Text(Buffer.from(bytes))
}

/**
 * `body` as text; BAD_REQUEST when it is not UTF-8. A lenient decoder would turn the bad
 * bytes into U+FFFD and write that to the database instead of what the client meant.
 */
function utf8Text(body: Buffer): string {
  if (!isUtf8(body))
    throw new SluiceError('BAD_REQUEST', 'the body is not valid UTF-8, which JSON must be')
  return body.toString('utf8')
}

// A body already read (a peer's request, checked against its signature before anything
// else: ./hop-credentials.ts), as a property of the request. `rawBody` is where
// @hono/node-server looks for a body read before it.
const READ_BODY = Symbol('sluice.readBody')

type WithBody = IncomingMessage & { [READ_BODY]?: Buffer; rawBody?: Buffer }

/** Keeps the body read from `incoming` for whoever reads it next (the stream is spent). */
export function keepBody(incoming: IncomingMessage, body: Buffer): void {
  ;(incoming as WithBody)[READ_BODY] = body
  ;(incoming as WithBody).rawBody = body
}

/** The body kept by {@link keepBody}, if it was read already. */
export function keptBody(incoming: IncomingMessage): Buffer | undefined {
  return (incoming as WithBody)[READ_BODY]
}

/**
 * Reads a Node request's whole body as UTF-8 text; PAYLOAD_TOO_LARGE past `maxBytes`,
 * BAD_REQUEST when it is not UTF-8.
 */
export function readNodeBody(incoming: IncomingMessage, maxBytes: number): Promise<string> {
  return collect(incoming, maxBytes, utf8Text)
}

/** Reads a Node request's whole body; PAYLOAD_TOO_LARGE past `maxBytes`. */
export function readNodeBytes(incoming: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return collect(incoming, maxBytes, (body) => body)
}

/** The body (the one kept, or read now), as `finish` makes it. */
function collect<T>(
  incoming: IncomingMessage,
  maxBytes: number,
  finish: (body: Buffer) => T,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const settle = (body: Buffer) => {
      try {
        resolve(finish(body))
      } catch (error) {
        reject(error)
      }
    }
    const kept = keptBody(incoming)
    if (kept) {
      if (kept.length > maxBytes) reject(payloadTooLarge(maxBytes))
      else settle(kept)
      return
    }
    const chunks: Buffer[] = []
    let size = 0
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size <= maxBytes) {
        chunks.push(chunk)
        return
      }
      // Stop buffering; the rest of the body is read and dropped so the answer can be sent.
      chunks.length = 0
      incoming.off('data', onData)
      incoming.resume()
      reject(payloadTooLarge(maxBytes))
    }
    incoming.on('data', onData)
    incoming.once('end', () => settle(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)))
    incoming.once('error', reject)
    // A client that goes away mid-body: settle rather than wait for an end that never comes.
    incoming.once('close', () => {
      if (!incoming.readableEnded) reject(clientClosed())
    })
  })
}

/** The declared Content-Length of a Node request, or `undefined` (chunked, or none given). */
export function declaredLength(incoming: IncomingMessage): number | undefined {
  if (incoming.headers['transfer-encoding'] !== undefined) return undefined
  const length = incoming.headers['content-length']
  // No Content-Length and no Transfer-Encoding: HTTP/1.1 says the body is empty.
  if (length === undefined) return 0
  const value = Number(length)
  return Number.isSafeInteger(value) && value >= 0 ? value : undefined
}

/** The declared Content-Length of a request, from Node's headers or the web Request's. */
export function declaredBodyLength(c: Context): number | undefined {
  const { incoming } = nodeBindings(c)
  if (incoming) return declaredLength(incoming)
  const length = c.req.header('content-length')
  return length === undefined ? undefined : Number(length)
}
