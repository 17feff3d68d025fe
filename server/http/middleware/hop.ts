/**
 * Requests from the gateway's other processes: another worker of the node, or a peer node
 * fanning out an admin action or checking that this node answers. Their credentials
 * (`x-sluice-forwarded`, server/cluster/hop-auth.ts) are checked here, and the sender is put
 * on the context (`hop`); a request whose credentials do not check out is refused, never
 * served as a client's own.
 */
import type { MiddlewareHandler } from 'hono'
import { HOP_HEADER } from '../../cluster/hop-auth.js'
import type { ClusterNode } from '../../cluster/node.js'
import { unauthorized } from '../../errors.js'
import type { GatewayEnv } from '../env.js'
import { nodeBindings } from '../node-request.js'

/** Checks the credentials of a request sent by another gateway process, when it has some. */
export function hopCheck(cluster: ClusterNode): MiddlewareHandler<GatewayEnv> {
  return async function hopCheck(c, next) {
    const value = c.req.header(HOP_HEADER)
    if (value !== undefined) {
      const url = new URL(c.req.url)
      const path = nodeBindings(c).incoming?.url ?? `${url.pathname}${url.search}`
      const hop = cluster.auth.check(value, c.req.method, path)
      if (hop === 'invalid') throw unauthorized(cluster.auth.refusal(value))
      if (hop !== undefined) c.set('hop', hop)
    }
    await next()
  }
}
