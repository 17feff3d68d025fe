/**
 * A connection the wire server will not serve: past `server.wireMaxHandshakes`, or arriving
 * while the gateway drains. It is answered as PostgreSQL's postmaster answers when its
 * connection slots are full or it is shutting down: its first packet is read, a few bytes of
 * it, and a CancelRequest is served as usual (overload and a drain are when a client most
 * needs one); an SSLRequest or GSSENCRequest is answered as the listener always answers it
 * (N, or S then TLS with `server.pgTls`), so that a client asking for TLS reads the refusal
 * too; anything else gets the refusal's error (FATAL) and the connection is closed. A refused
 * connection makes the gateway keep at most {@link MAX_REFUSED_BYTES} of what it sends, and
 * its socket at most {@link REFUSAL_MS}.
 */
import type { Duplex } from 'node:stream'
import { STARTUP_CODES, errorResponse, type ErrorFields } from './messages.js'
import type { WireServer, WireTransport } from './server.js'

/** The most a refused connection's packet is read: a CancelRequest's 16 bytes. */
export const MAX_REFUSED_BYTES = 16

/** How long a refused connection is kept, whatever it does (TLS, a slow client, silence). */
export const REFUSAL_MS = 5_000

/** Too many handshakes: PostgreSQL's own answer when its connection slots are all taken. */
export const TOO_MANY_HANDSHAKES: ErrorFields = {
  severity: 'FATAL',
  code: '53300',
  message: 'too many connections are authenticating at once: try again',
}

/** A connection during the drain: PostgreSQL's answer while it shuts down (57P03). */
export const SHUTTING_DOWN: ErrorFields = {
  severity: 'FATAL',
  code: '57P03',
  message: 'the gateway is shutting down: connect again (to another instance)',
}

/** What a refused connection's first bytes are. */
type FirstPacket =
  | { kind: 'ssl' | 'gssenc' }
  | { kind: 'cancel'; processId: number; secretKey: number }
  /** A startup packet, or anything else: refused. */
  | { kind: 'other' }
  /** The client left, or the stream failed. */
  | { kind: 'gone' }

/** Classifies the bytes read so far; undefined while more are needed. */
function classify(bytes: Buffer, more: boolean): FirstPacket | undefined {
  if (bytes.length < 8) return undefined
  const length = bytes.readInt32BE(0)
  const code = bytes.readInt32BE(4)
  if (length === 8 && code === STARTUP_CODES.sslRequest)
    // Bytes after the request would be taken as encrypted: refused, as the handshake does.
    return bytes.length > 8 || more ? { kind: 'other' } : { kind: 'ssl' }
  if (length === 8 && code === STARTUP_CODES.gssEncRequest)
    return bytes.length > 8 || more ? { kind: 'other' } : { kind: 'gssenc' }
  if (length === 16 && code === STARTUP_CODES.cancelRequest) {
    if (bytes.length < 16) return undefined
    return { kind: 'cancel', processId: bytes.readInt32BE(8), secretKey: bytes.readInt32BE(12) }
  }
  return { kind: 'other' }
}

/**
 * Reads the first bytes of the next packet, at most {@link MAX_REFUSED_BYTES}: what a chunk
 * holds past them is dropped with it, and the stream is paused once the packet is known.
 */
function firstPacket(stream: Duplex): Promise<FirstPacket> {
  return new Promise((resolve) => {
    const bytes = Buffer.alloc(MAX_REFUSED_BYTES)
    let have = 0
    const done = (packet: FirstPacket) => {
      stream.off('data', onData)
      stream.off('end', onGone)
      stream.off('close', onGone)
      stream.off('error', onGone)
      stream.pause()
      resolve(packet)
    }
    const onData = (chunk: Buffer) => {
      const copied = chunk.copy(bytes, have)
      have += copied
      const packet = classify(bytes.subarray(0, have), copied < chunk.length)
      if (packet) done(packet)
      else if (have === MAX_REFUSED_BYTES) done({ kind: 'other' })
    }
    const onGone = () => done({ kind: 'gone' })
    stream.on('data', onData)
    stream.on('end', onGone)
    stream.on('close', onGone)
    stream.on('error', onGone)
    stream.resume()
  })
}

/**
 * Refuses a connection with `refusal` ({@link TOO_MANY_HANDSHAKES}, {@link SHUTTING_DOWN}),
 * serving its CancelRequest and answering its SSLRequest first (see the file's comment).
 */
export async function refuseConnection(
  server: WireServer,
  transport: WireTransport,
  refusal: ErrorFields,
): Promise<void> {
  let stream = transport.stream
  // One bound for all of it: the TLS handshake, a slow or silent client, the error unread.
  const timer = setTimeout(() => stream.destroy(), REFUSAL_MS).unref()
  transport.stream.once('close', () => clearTimeout(timer))
  const asked = new Set<string>()
  let packet = await firstPacket(stream)
  // Each request once, as the handshake allows them; none once TLS is on.
  while ((packet.kind === 'ssl' || packet.kind === 'gssenc') && !asked.has(packet.kind)) {
    asked.add(packet.kind)
    if (packet.kind === 'ssl' && transport.startTls) {
      stream.write('S')
      stream = transport.startTls()
      asked.add('gssenc')
    } else stream.write('N')
    packet = await firstPacket(stream)
  }
  if (packet.kind === 'gone') return void stream.destroy()
  if (packet.kind === 'cancel') {
    server.cancel(packet.processId, packet.secretKey)
    return void stream.end()
  }
  // The client reads the error, then closes; one that does not is cut by the timer.
  stream.end(errorResponse(refusal))
}
