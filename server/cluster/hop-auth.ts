/**
 * The credentials of a request one gateway process sends another: a transaction forwarded
 * to its owner, an admin action fanned out, a peer's check. Between the workers of a node
 * (over a Unix socket only they can open) it is a token derived from the node's own
 * secret; between nodes, an HMAC under the cluster's secret (`server.cluster.secret`) of
 * who sends it, when, and the method and path, valid for a minute. The secret itself never
 * travels, and a tenant token alone never passes for a peer.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'

/** The header that carries them. */
export const HOP_HEADER = 'x-sluice-forwarded'

/** How far a peer's clock and ours may disagree, and how long a signature may be replayed. */
const PEER_WINDOW_MS = 60_000

/** Who sent a request, once its credentials check out. */
export type Hop = { hop: 'worker' } | { hop: 'peer'; from: string }

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/** Signs and checks the requests between a node's processes and its peers. */
export class HopAuth {
  private readonly workerToken: string
  private readonly peerKey: Buffer | undefined

  /**
   * `nodeSecret`: shared by the workers of this node only; `clusterSecret`: by every node
   * (absent for a node without peers).
   */
  constructor(nodeSecret: string | Buffer, clusterSecret: string | undefined) {
    this.workerToken = createHmac('sha256', nodeSecret).update('sluice worker hop v1').digest('hex')
    this.peerKey =
      clusterSecret === undefined
        ? undefined
        : createHmac('sha256', clusterSecret).update('sluice peer requests v1').digest()
  }

  /** The header value for a request to another worker of this node. */
  worker(): string {
    return `worker ${this.workerToken}`
  }

  /** The header value for a request from node `from` to a peer (`path` with its query). */
  peer(from: string, method: string, path: string, now = Date.now()): string {
    if (!this.peerKey) throw new Error('no cluster secret: this node has no peers')
    return `peer ${from} ${now} ${this.sign(from, now, method, path)}`
  }

  /**
   * Who sent a request with this header value: `undefined` when it has none (a client's own
   * request), `'invalid'` when its credentials do not check out.
   */
  check(
    value: string | undefined,
    method: string,
    path: string,
    now = Date.now(),
  ): Hop | 'invalid' | undefined {
    if (value === undefined) return undefined
    const [kind, ...rest] = value.split(' ')
    if (kind === 'worker' && rest.length === 1) {
      return equal(rest[0]!, this.workerToken) ? { hop: 'worker' } : 'invalid'
    }
    if (kind === 'peer' && rest.length === 3 && this.peerKey) {
      const [from, at, signature] = rest as [string, string, string]
      const sent = Number(at)
      if (!Number.isSafeInteger(sent) || Math.abs(now - sent) > PEER_WINDOW_MS) return 'invalid'
      return equal(signature, this.sign(from, sent, method, path))
        ? { hop: 'peer', from }
        : 'invalid'
    }
    return 'invalid'
  }

  /**
   * Why credentials that {@link check} found invalid were refused, for the 401: a peer's
   * signature made too far from this node's time says so, since the fix is the clocks
   * (the time is the sender's own, so telling it reveals nothing).
   */
  refusal(value: string, now = Date.now()): string {
    const [kind, , at] = value.split(' ')
    const sent = Number(at)
    if (kind === 'peer' && Number.isSafeInteger(sent) && Math.abs(now - sent) > PEER_WINDOW_MS) {
      const seconds = Math.round(Math.abs(now - sent) / 1000)
      return `${HOP_HEADER} was signed at a time ${seconds} s from this node's clock, more than the ${PEER_WINDOW_MS / 1000} s allowed: keep the nodes' clocks in sync (NTP)`
    }
    return `invalid ${HOP_HEADER} credentials (is the cluster secret the same on every node?)`
  }

  private sign(from: string, at: number, method: string, path: string): string {
    return createHmac('sha256', this.peerKey!)
      .update(`${from}\n${at}\n${method.toUpperCase()}\n${path}`)
      .digest('base64url')
  }
}
