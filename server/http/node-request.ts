/**
 * Cheap access to the Node request under @hono/node-server. Hono's `c.req.raw` is a
 * lightweight object until a handler touches its body or signal; then the adapter builds a
 * full web Request, an AbortController and a ReadableStream over the socket, which costs
 * more than the rest of a `SELECT 1`. The hot path reads the body and the disconnect signal
 * from Node's own objects instead, and falls back to the web Request where there is no
 * Node request (`app.request()` in tests, other runtimes) or where a middleware already
 * started reading it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Context } from 'hono'
import { SluiceError } from '../../src/errors.js'
import { LightSignal, type AbortLike } from '../lifecycle/abort.js'

interface NodeBindings {
  incoming?: IncomingMessage
  outgoing?: ServerResponse
}

function bindings(c: Context): NodeBindings {
  const env = c.env as NodeBindings | undefined
  return env !== null && typeof env === 'object' ? env : {}
}

const signals = new WeakMap<object, LightSignal>()

/**
 * Aborts when the client goes away before its response is written: the same condition as
 * @hono/node-server's own `c.req.raw.signal`. One signal per request.
 */
export function requestSignal(c: Context): AbortLike {
  const { incoming, outgoing } = bindings(c)
  if (!incoming || !outgoing || typeof outgoing.once !== 'function') return c.req.raw.signal
  return disconnectSignal(incoming, outgoing)
}

/** {@link requestSignal} for Node's own request and response (../abort.ts: no EventTarget). */
export function disconnectSignal(incoming: IncomingMessage, outgoing: ServerResponse): LightSignal {
  const existing = signals.get(outgoing)
  if (existing) return existing
  const created = new LightSignal()
  signals.set(outgoing, created)
  const onClose = () => {
    if (incoming.errored || !outgoing.writableFinished) created.abort()
  }
  if (outgoing.closed) onClose()
  else outgoing.once('close', onClose)
  return created
}

/**
 * The request body as text, read straight from Node's stream when nothing read it yet and
 * its length is declared (bodyLimit has then checked it); otherwise through `c.req.text()`.
 */
export function requestText(c: Context): Promise<string> {
  const { incoming } = bindings(c)
  if (
    !incoming ||
    incoming.readableFlowing !== null ||
    incoming.readableEnded ||
    incoming.headers['transfer-encoding'] !== undefined ||
    'rawBody' in incoming
  ) {
    return c.req.text()
  }
  return readNodeBody(incoming)
}

/** Reads a Node request's whole body as UTF-8 text. */
export function readNodeBody(incoming: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk))
    incoming.once('end', () =>
      resolve(
        chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8'),
      ),
    )
    incoming.once('error', reject)
    // A client that goes away mid-body: settle rather than wait for an end that never comes.
    incoming.once('close', () => {
      if (!incoming.readableEnded)
        reject(new SluiceError('CLIENT_CLOSED', 'the client closed the request'))
    })
  })
}

/**
 * Checks a declared Content-Length against `maxSize` without building the web Request.
 * Returns `undefined` when the length is not declared this way (chunked bodies), so the
 * caller falls back to a streaming check.
 */
export function declaredBodyTooLarge(c: Context, maxSize: number): boolean | undefined {
  const { incoming } = bindings(c)
  return incoming ? declaredTooLarge(incoming, maxSize) : undefined
}

/** {@link declaredBodyTooLarge} for Node's own request. */
export function declaredTooLarge(incoming: IncomingMessage, maxSize: number): boolean | undefined {
  if (incoming.headers['transfer-encoding'] !== undefined) return undefined
  const length = incoming.headers['content-length']
  // No Content-Length and no Transfer-Encoding: HTTP/1.1 says the body is empty.
  if (length === undefined) return false
  return parseInt(length, 10) > maxSize
}
