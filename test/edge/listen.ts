/** A test gateway listening on a real TCP port, for clients that go over the network. */
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'

/** A test gateway plus its listening URL. */
export interface ListeningGateway extends TestGateway {
  url: string
}

/** Starts a test gateway (see startTestGateway) and listens on 127.0.0.1 on a free port. */
export async function listenTestGateway(
  ...args: Parameters<typeof startTestGateway>
): Promise<ListeningGateway> {
  const t = await startTestGateway(...args)
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: t.gateway.app.fetch, port: 0, hostname: '127.0.0.1' }, () =>
      resolve(s),
    )
  })
  const { port } = server.address() as AddressInfo
  return {
    ...t,
    url: `http://127.0.0.1:${port}`,
    async close() {
      ;(server as Server).closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await t.close()
    },
  }
}
