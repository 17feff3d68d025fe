/**
 * `GET /_sluice/peer`: how a peer node checks that this one answers, and learns its key and
 * state. Only for peers (a signed request, ../middleware/hop.ts).
 */
import { Hono } from 'hono'
import type { ClusterNode } from '../../cluster/node.js'
import { unauthorized } from '../../errors.js'
import type { Lifecycle } from '../../lifecycle/lifecycle.js'
import type { GatewayEnv } from '../env.js'

/** This node, as its peers see it. */
export interface PeerReport {
  address: string
  key: string
  workers: number
  draining: boolean
}

/** The peer check route. */
export function peerRoute(cluster: ClusterNode, lifecycle: Lifecycle): Hono<GatewayEnv> {
  return new Hono<GatewayEnv>().get('/_sluice/peer', function peer(c) {
    if (c.get('hop')?.hop !== 'peer') throw unauthorized("only the cluster's nodes may ask")
    const report: PeerReport = {
      address: cluster.address,
      key: cluster.key,
      workers: Math.max(1, cluster.worker.count),
      draining: lifecycle.draining,
    }
    return c.json(report)
  })
}
