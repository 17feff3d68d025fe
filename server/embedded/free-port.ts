/** A free TCP port, for the embedded PostgreSQL (and tests and benchmarks). */
import { createServer } from 'node:net'

function tryPort(port: number): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', (error: NodeJS.ErrnoException) =>
      error.code === 'EADDRINUSE' || error.code === 'EACCES' ? resolve(undefined) : reject(error),
    )
    server.listen(port, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address ? address.port : undefined))
    })
  })
}

/**
 * A free TCP port on 127.0.0.1: `preferred` when it is free (so the embedded database keeps
 * its URL across restarts), else one the OS picks.
 */
export async function freePort(preferred?: number): Promise<number> {
  if (preferred !== undefined && preferred > 0) {
    const port = await tryPort(preferred)
    if (port !== undefined) return port
  }
  const port = await tryPort(0)
  if (port === undefined) throw new Error('no free TCP port on 127.0.0.1')
  return port
}
