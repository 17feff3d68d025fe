/** Listening on the gateway's address, with a failure a person can act on. */
import type { Server } from 'node:net'
import { StartupError } from '../startup-error.js'

function reason(code: string | undefined, host: string, port: number): string {
  switch (code) {
    case 'EADDRINUSE':
      return `port ${port} on ${host} is already in use (another Sluice, or another server): stop it, or choose another port with PORT=N`
    case 'EACCES':
      return `not allowed to listen on ${host}:${port} (ports below 1024 need privileges): choose PORT=8080 or another port above 1023`
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `HOST ${host} is not an address of this machine: use 127.0.0.1, 0.0.0.0 (every interface) or one of its addresses`
    default:
      return `cannot listen on ${host}:${port} (${code ?? 'unknown error'})`
  }
}

/** Starts `server` listening; rejects with CANNOT_LISTEN saying why it could not. */
export function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) =>
      reject(new StartupError('CANNOT_LISTEN', reason(error.code, host, port), error.message))
    server.once('error', onError)
    server.listen(port, host, () => {
      server.removeListener('error', onError)
      resolve()
    })
  })
}
