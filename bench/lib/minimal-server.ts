/**
 * A second floor: the least a Node HTTP-to-PostgreSQL hop can do on this machine. One
 * node:http server in front of a pg.Pool answering `/v1/query` bodies with the protocol's
 * result shape, with no auth, limits, logs or metrics. Where Sluice sits between this and
 * PgBouncer says how much of the gap is Node itself and how much is the gateway.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import pg from 'pg'

/** A running minimal server. */
export interface MinimalServer {
  url: string
  close(): Promise<void>
}

/** Starts the minimal server on a free port. */
export async function startMinimalServer(databaseUrl: string, max: number): Promise<MinimalServer> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max })
  // Keep PostgreSQL's text, as Sluice does.
  const asText = { getTypeParser: () => (value: string) => value }
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        sql: string
        params?: unknown[]
      }
      pool
        .query({ text: body.sql, values: body.params ?? [], rowMode: 'array', types: asText })
        .then(
          (result) => {
            const json = JSON.stringify({
              command: result.command,
              rowCount: result.rowCount,
              fields: result.fields.map((f) => ({ name: f.name, dataTypeID: f.dataTypeID })),
              rows: result.rows,
            })
            res.writeHead(200, {
              'content-type': 'application/json',
              'content-length': Buffer.byteLength(json),
            })
            res.end(json)
          },
          () => {
            res.writeHead(500).end()
          },
        )
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
      await pool.end()
    },
  }
}
