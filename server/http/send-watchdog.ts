/**
 * `server.sendTimeoutMs`: a client that reads nothing of its answer loses its connection.
 * As nginx's send_timeout, the time runs between two successful writes, not over the whole
 * answer: a socket counts as stalled while its write buffer is over the high-water mark
 * (`writableNeedDrain`) and no 'drain' came. Writers hand out at most one slice at a time
 * (./send.ts, ./stream-writer.ts), so a client that reads at all drains often; one that does not is
 * closed, which frees its answer and, for a stream, cancels the statement. One timer serves
 * every socket.
 */
import type { Socket } from 'node:net'
import type { ServerResponse } from 'node:http'

/** What is known of a socket the watchdog follows. */
interface Watched {
  /** The response being written on it (keep-alive sockets carry several in turn). */
  res: ServerResponse
  /** When the last 'drain' came. */
  drainedAt: number
  /** When the watchdog first saw the buffer over its high-water mark, since the last drain. */
  stalledSince: number | undefined
}

/** A socket closed for not reading, for the log. */
export interface SendTimeout {
  requestId: string | undefined
  /** Bytes still waiting in the gateway's write buffer. */
  bufferedBytes: number
  timeoutMs: number
}

// The request id of each response, for the log line. Its header cannot be read back: both
// paths pass their headers to writeHead, which does not keep them for getHeader. A property
// of the response rather than a WeakMap entry, which costs the scavenger on every request.
const REQUEST_ID = Symbol('sluice.requestId')

type Named = ServerResponse & { [REQUEST_ID]?: string }

/** Names the request `res` answers, for the line logged if its client stops reading. */
export function noteRequestId(res: ServerResponse, requestId: string): void {
  ;(res as Named)[REQUEST_ID] = requestId
}

/** Follows each response's socket; `watch` is called once per request. */
export interface SendWatchdog {
  watch(res: ServerResponse): void
}

/** Builds the watchdog; `onTimeout` hears of each socket it closes. */
export function sendWatchdog(
  timeoutMs: number,
  onTimeout: (event: SendTimeout) => void,
): SendWatchdog {
  const sockets = new Map<Socket, Watched>()
  const tickMs = Math.min(Math.max(Math.floor(timeoutMs / 4), 10), 1000)
  let timer: ReturnType<typeof setInterval> | undefined

  const tick = (): void => {
    const now = Date.now()
    for (const [socket, watched] of sockets) {
      if (!socket.writableNeedDrain) {
        watched.stalledSince = undefined
        continue
      }
      watched.stalledSince ??= now
      const since = Math.max(watched.stalledSince, watched.drainedAt)
      if (now - since < timeoutMs) continue
      sockets.delete(socket)
      onTimeout({
        requestId: (watched.res as Named)[REQUEST_ID],
        bufferedBytes: socket.writableLength,
        timeoutMs,
      })
      socket.destroy()
    }
    if (sockets.size === 0) {
      clearInterval(timer)
      timer = undefined
    }
  }

  return {
    watch(res) {
      const socket = res.socket
      if (!socket || socket.destroyed) return
      const known = sockets.get(socket)
      if (known) {
        known.res = res
        return
      }
      sockets.set(socket, { res, drainedAt: Date.now(), stalledSince: undefined })
      socket.on('drain', () => {
        const watched = sockets.get(socket)
        if (watched) watched.drainedAt = Date.now()
      })
      socket.once('close', () => sockets.delete(socket))
      if (!timer) {
        timer = setInterval(tick, tickMs)
        timer.unref()
      }
    },
  }
}
