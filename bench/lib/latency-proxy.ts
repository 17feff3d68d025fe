/**
 * A TCP proxy that delays every chunk by a fixed time in each direction: the network round
 * trip between a serverless function and the database (or gateway) host, simulated on
 * 127.0.0.1. Order is kept per direction; a delay of 0 forwards at once.
 */
import { connect, createServer, type Server, type Socket } from 'node:net'

/** A running proxy. */
export interface LatencyProxy {
  readonly port: number
  close(): Promise<void>
}

/**
 * Forwards `from` to `to`, each chunk `delayMs` later, in order, and not before `notBefore`
 * (so the first bytes also pay for the TCP handshake the real network would add).
 */
function pipeDelayed(from: Socket, to: Socket, delayMs: number, notBefore: number): void {
  const queue: { due: number; chunk: Buffer | null }[] = []
  let timer: ReturnType<typeof setTimeout> | undefined
  const send = (chunk: Buffer | null) => {
    if (to.destroyed) return
    if (chunk === null) to.end()
    else to.write(chunk)
  }
  const flush = () => {
    timer = undefined
    const now = performance.now()
    while (queue.length > 0 && queue[0]!.due <= now + 0.5) send(queue.shift()!.chunk)
    if (queue.length > 0) timer = setTimeout(flush, queue[0]!.due - now)
  }
  const enqueue = (chunk: Buffer | null) => {
    if (delayMs <= 0) {
      send(chunk)
      return
    }
    const now = performance.now()
    const last = queue.length > 0 ? queue[queue.length - 1]!.due : 0
    const due = Math.max(now, notBefore) + delayMs
    queue.push({ due: Math.max(due, last), chunk })
    timer ??= setTimeout(flush, Math.max(0, queue[0]!.due - now))
  }
  from.on('data', (chunk: Buffer) => enqueue(chunk))
  from.on('end', () => enqueue(null))
}

/** Starts a proxy on 127.0.0.1 (a free port) to `target`, adding `delayMs` each way. */
export async function startLatencyProxy(
  targetPort: number,
  delayMs: number,
): Promise<LatencyProxy> {
  const sockets = new Set<Socket>()
  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    client.setNoDelay(true)
    const upstream = connect({
      port: targetPort,
      host: '127.0.0.1',
      noDelay: true,
      allowHalfOpen: true,
    })
    sockets.add(client)
    sockets.add(upstream)
    const destroy = () => {
      client.destroy()
      upstream.destroy()
    }
    client.on('error', destroy)
    upstream.on('error', destroy)
    client.on('close', () => sockets.delete(client))
    upstream.on('close', () => sockets.delete(upstream))
    // SYN and SYN-ACK: the client's first bytes leave one round trip after it connected.
    const handshakeDone = performance.now() + 2 * delayMs
    pipeDelayed(client, upstream, delayMs, handshakeDone)
    pipeDelayed(upstream, client, delayMs, 0)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}
