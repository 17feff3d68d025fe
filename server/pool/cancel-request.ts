/**
 * PostgreSQL's CancelRequest, as libpq's PQcancel sends it: a new socket to the server that
 * carries the backend's pid and secret key, and closes. PostgreSQL never answers it.
 */
import { connect as netConnect } from 'node:net'

/** Where to send a cancel request: the server's address, as the connection used it. */
export interface CancelTarget {
  host: string
  port: number
}

/** How long a cancel request may take to leave before its socket is dropped. */
const CANCEL_SEND_MS = 2000

/** Sends a cancel request for backend `pid`; resolves once it went out or failed, never rejects. */
export function sendCancelRequest(target: CancelTarget, pid: number, key: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = netConnect(target.port, target.host)
    const done = () => {
      clearTimeout(timer)
      socket.destroy()
      resolve()
    }
    const timer = setTimeout(done, CANCEL_SEND_MS)
    socket.once('error', done)
    socket.once('close', done)
    socket.once('connect', () => {
      const message = Buffer.alloc(16)
      message.writeInt32BE(16, 0)
      message.writeInt32BE(80877102, 4)
      message.writeInt32BE(pid, 8)
      message.writeInt32BE(key, 12)
      socket.end(message)
    })
  })
}
