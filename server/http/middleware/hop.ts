/**
 * Requests from the gateway's other processes: another worker of the node, or a peer node
 * forwarding a transaction's request, fanning out an admin action or checking that this
 * node answers. Their credentials (`x-sluice-forwarded`, server/cluster/hop-auth.ts) are
 * checked once (../hop-credentials.ts: by the listener for a peer's, before this) and the
 * sender is put on the context (`hop`); a request whose credentials do not check out is
 * refused, never served as a client's own.
 */
import type { MiddlewareHandler } from 'hono'
import { HOP_HEADER } from '../../cluster/hop-auth.js'
import type { ClusterNode } from '../../cluster/node.js'
import { payloadTooLarge } from '../../errors.js'
import type { GatewayEnv } from '../env.js'
import { authenticateHop, nodeHop } from '../hop-credentials.js'
import { nodeBindings } from '../node-request.js'

/** Checks the credentials of a request sent by another gateway process, when it has some. */
export function hopCheck(
  cluster: ClusterNode,
  bodyLimitBytes: number,
): MiddlewareHandler<GatewayEnv> {
  return async function hopCheck(c, next) {
    // Node's own headers when there is a Node request: building the web Request's costs more.
    const { incoming } = nodeBindings(c)
    const value = incoming
      ? (incoming.headers[HOP_HEADER] as string | undefined)
      : c.req.header(HOP_HEADER)
    if (value !== undefined) {
      const hop = incoming
        ? await nodeHop(cluster, incoming, bodyLimitBytes)
        : await authenticateHop(cluster, value, {
            method: c.req.method,
            path: pathWithQuery(c.req.url),
            // Hono keeps the body it read for the route that reads it next.
            body: async () => {
              const body = new Uint8Array(await c.req.arrayBuffer())
              if (body.byteLength > bodyLimitBytes) throw payloadTooLarge(bodyLimitBytes)
              return body
            },
          })
      if (hop !== undefined) c.set('hop', hop)
    }
    await next()
  }
}

function pathWithQuery(url: string): string {
  const { pathname, search } = new URL(url)
  return `${pathname}${search}`
}
