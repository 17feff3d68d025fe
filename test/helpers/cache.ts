/**
 * For the cache's tests: a database of their own (the invalidation channel is per database,
 * so other test files' caches never take part), and a client of a listening gateway that
 * reads the `Sluice-Cache` header.
 */
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'
import pg from 'pg'
import { admin, databaseUrl } from './gateway.js'

/** A fresh database; `drop()` removes it (its connections too). */
export interface TestDatabase {
  url: string
  name: string
  /** Runs SQL on a direct (unpooled) connection to it. */
  sql<T extends pg.QueryResultRow = any>(text: string, params?: unknown[]): Promise<T[]>
  drop(): Promise<void>
}

/** Creates a database named after `prefix` on the test server. */
export async function createDatabase(prefix: string): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(4).toString('hex')}`
  await admin(`create database "${name}"`)
  const parsed = new URL(databaseUrl())
  parsed.pathname = `/${name}`
  const url = parsed.toString()
  return {
    url,
    name,
    async sql(text, params = []) {
      const client = new pg.Client({ connectionString: url })
      await client.connect()
      try {
        return (await client.query(text, params)).rows
      } finally {
        await client.end()
      }
    },
    drop: async () => {
      await admin(`drop database if exists "${name}" with (force)`)
    },
  }
}

/** One answer of a listening gateway. */
export interface Answer<T = any> {
  status: number
  body: T
  /** The `Sluice-Cache` header, or null. */
  cache: string | null
}

/** POSTs JSON to `base + path` over a real socket. */
export async function post<T = any>(
  base: string,
  path: string,
  body: unknown,
  token: string,
  headers: Record<string, string> = {},
): Promise<Answer<T>> {
  const response = await fetch(base + path, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
  const text = await response.text()
  return {
    status: response.status,
    body: text === '' ? undefined : JSON.parse(text),
    cache: response.headers.get('sluice-cache'),
  }
}

/** A TCP proxy to PostgreSQL that can stop passing bytes, as a network cut that heals would. */
export interface PausableProxy {
  port: number
  /** Stops passing bytes both ways (the sockets stay open; bytes wait in the kernel). */
  pause(): void
  resume(): void
  close(): Promise<void>
}

/** Starts a {@link PausableProxy} to `127.0.0.1:targetPort` on a free port. */
export async function startPausableProxy(targetPort: number): Promise<PausableProxy> {
  const sockets = new Set<Socket>()
  // Bytes held while paused, per destination, in order.
  const held = new Map<Socket, Buffer[]>()
  let paused = false
  const forward = (from: Socket, to: Socket) => {
    from.on('data', (chunk: Buffer) => {
      if (paused) held.get(to)!.push(chunk)
      else to.write(chunk)
    })
    from.on('close', () => to.destroy())
  }
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1')
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      held.set(socket, [])
      socket.on('close', () => {
        sockets.delete(socket)
        held.delete(socket)
      })
      socket.on('error', () => {})
    }
    forward(client, upstream)
    forward(upstream, client)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    port: (server.address() as AddressInfo).port,
    pause() {
      paused = true
    },
    resume() {
      paused = false
      for (const [socket, chunks] of held) for (const chunk of chunks.splice(0)) socket.write(chunk)
    },
    async close() {
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}
