/** A test gateway listening on a real TCP port, for clients that go over the network. */
import type { AddressInfo } from 'node:net'
import { serveGateway, startTestGateway, type TestGateway } from '../helpers/gateway.js'

/** A test gateway plus its listening URL. */
export interface ListeningGateway extends TestGateway {
  url: string
}

/** Starts a test gateway (see startTestGateway) and listens on 127.0.0.1 on a free port. */
export async function listenTestGateway(
  ...args: Parameters<typeof startTestGateway>
): Promise<ListeningGateway> {
  const t = await startTestGateway(...args)
  const server = serveGateway(t.gateway)
  await new Promise((resolve) => server.once('listening', resolve))
  const { port } = server.address() as AddressInfo
  return {
    ...t,
    url: `http://127.0.0.1:${port}`,
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await t.close()
    },
  }
}
