/**
 * The credentials of a request one gateway process sends another: a transaction forwarded
 * to its owner, an admin action fanned out, a peer's check. Between the workers of a node
 * (over a Unix socket only they can open) it is a token derived from the node's own
 * secret. Between nodes it is an HMAC under the cluster's secret (`server.cluster.secret`)
 * of who sends it, the node it is for (its key), when, a random nonce, the method, the path
 * with its query, and the SHA-256 of the exact body bytes, valid for a minute: a request
 * read on the network cannot be sent to another node, nor with another body, path or
 * method. Each nonce is accepted once (./replay-guard.ts), so it cannot be sent twice
 * either. The secret itself never travels, and a tenant token alone never passes for a peer.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

/** The header that carries them. */
export const HOP_HEADER = 'x-sluice-forwarded'

/** How far a peer's clock and ours may disagree: a signature counts this long either side. */
export const PEER_WINDOW_MS = 60_000

/**
 * The destination of a peer's check (`GET /_sluice/peer`) only: the check is how a node
 * learns which node answers at an address (its key), so it cannot name it in advance.
 */
export const ANY_NODE = '*'

/** The only request that may be signed for {@link ANY_NODE}. */
const DISCOVERY = { method: 'GET', path: '/_sluice/peer' }

const NONCE = /^[A-Za-z0-9_-]{22}$/

/** Who sent a request, once its credentials check out. */
export type Hop = { hop: 'worker' } | { hop: 'peer'; from: string }

/**
 * A peer's credentials that check out, with the nonce (and when it was signed) to claim
 * before the request counts (./replay-guard.ts).
 */
export type PeerCheck = { hop: 'peer'; from: string; nonce: string; signedAt: number }

/** A request as a peer signs it. */
export interface SignedRequest {
  method: string
  /** The path with its query, as sent on the request line. */
  path: string
  /** The exact body bytes (empty without a body). */
  body?: Uint8Array | undefined
}

/** A peer's request: {@link SignedRequest} and the key of the node it is for. */
export interface PeerRequest extends SignedRequest {
  /** The destination node's key (`nodeKeyOf(address)`), or {@link ANY_NODE} for the check. */
  to: string
}

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

function isDiscovery(method: string, path: string): boolean {
  return method.toUpperCase() === DISCOVERY.method && path === DISCOVERY.path
}

/** Signs and checks the requests between a node's processes and its peers. */
export class HopAuth {
  private readonly workerToken: string
  private readonly peerKey: Buffer | undefined
  private readonly selfKey: string | undefined

  /**
   * `nodeSecret`: shared by the workers of this node only; `clusterSecret`: by every node
   * (absent for a node without peers); `selfKey`: this node's key, which a peer's request
   * must be signed for (absent where nothing is checked, as in the primary).
   */
  constructor(nodeSecret: string | Buffer, clusterSecret: string | undefined, selfKey?: string) {
    this.workerToken = createHmac('sha256', nodeSecret).update('sluice worker hop v1').digest('hex')
    this.peerKey =
      clusterSecret === undefined
        ? undefined
        : createHmac('sha256', clusterSecret).update('sluice peer requests v2').digest()
    this.selfKey = selfKey
    Object.defineProperty(this, 'workerToken', { enumerable: false })
    Object.defineProperty(this, 'peerKey', { enumerable: false })
  }

  /** The header value for a request to another worker of this node. */
  worker(): string {
    return `worker ${this.workerToken}`
  }

  /** The header value for a request from node `from` (its address) to a peer. */
  peer(from: string, request: PeerRequest, now = Date.now()): string {
    if (!this.peerKey) throw new Error('no cluster secret: this node has no peers')
    if (request.to === ANY_NODE && !isDiscovery(request.method, request.path))
      throw new Error(`only ${DISCOVERY.method} ${DISCOVERY.path} may be signed for any node`)
    const nonce = randomBytes(16).toString('base64url')
    const signature = this.sign(from, request.to, now, nonce, request)
    return `peer ${from} ${request.to} ${now} ${nonce} ${signature}`
  }

  /**
   * Who sent a request with this header value: `undefined` when it has none (a client's own
   * request), `'invalid'` when its credentials do not check out. A peer's still has its
   * nonce to claim (./replay-guard.ts).
   */
  check(
    value: string | undefined,
    request: SignedRequest,
    now = Date.now(),
  ): { hop: 'worker' } | PeerCheck | 'invalid' | undefined {
    if (value === undefined) return undefined
    const [kind, ...rest] = value.split(' ')
    if (kind === 'worker' && rest.length === 1) {
      return equal(rest[0]!, this.workerToken) ? { hop: 'worker' } : 'invalid'
    }
    if (kind === 'peer') {
      const parts = this.peerParts(value, request, now)
      if (!parts) return 'invalid'
      const { from, to, sent, nonce, signature } = parts
      if (!equal(signature, this.sign(from, to, sent, nonce, request))) return 'invalid'
      return { hop: 'peer', from, nonce, signedAt: sent }
    }
    return 'invalid'
  }

  /**
   * Whether a peer's header value may still check out once the body it signs is read: false
   * when it is malformed, out of time, for another node, or this node has no peers. So a
   * request that cannot be a peer's is refused before the gateway reads its body.
   */
  mayBePeer(value: string, request: Omit<SignedRequest, 'body'>, now = Date.now()): boolean {
    return this.peerParts(value, request, now) !== undefined
  }

  /** A peer's header value in parts, when nothing but its signature is left to check. */
  private peerParts(value: string, request: Omit<SignedRequest, 'body'>, now: number) {
    const [kind, ...rest] = value.split(' ')
    if (kind !== 'peer' || rest.length !== 5 || !this.peerKey || this.selfKey === undefined)
      return undefined
    const [from, to, at, nonce, signature] = rest as [string, string, string, string, string]
    const sent = Number(at)
    if (!Number.isSafeInteger(sent) || Math.abs(now - sent) > PEER_WINDOW_MS) return undefined
    if (!NONCE.test(nonce)) return undefined
    const forUs =
      to === this.selfKey || (to === ANY_NODE && isDiscovery(request.method, request.path))
    if (!forUs) return undefined
    return { from, to, sent, nonce, signature }
  }

  /**
   * Why credentials that {@link check} found invalid were refused, for the 401: a peer's
   * signature made too far from this node's time, or for another node, says so, since the
   * fix is the clocks or the peer list (the time and the key are the sender's own, so
   * telling them reveals nothing).
   */
  refusal(value: string, request: SignedRequest, now = Date.now()): string {
    const [kind, , to, at] = value.split(' ')
    const sent = Number(at)
    if (kind === 'peer' && Number.isSafeInteger(sent) && Math.abs(now - sent) > PEER_WINDOW_MS) {
      const seconds = Math.round(Math.abs(now - sent) / 1000)
      return `${HOP_HEADER} was signed at a time ${seconds} s from this node's clock, more than the ${PEER_WINDOW_MS / 1000} s allowed: keep the nodes' clocks in sync (NTP)`
    }
    if (
      kind === 'peer' &&
      to !== undefined &&
      to !== this.selfKey &&
      !(to === ANY_NODE && isDiscovery(request.method, request.path))
    )
      return `${HOP_HEADER} was signed for another node (a peer's request counts only on the node it was sent to)`
    return `invalid ${HOP_HEADER} credentials: the signature does not match this request (its method, path and body) under this node's cluster secret (is the cluster secret the same on every node?)`
  }

  private sign(from: string, to: string, at: number, nonce: string, request: SignedRequest) {
    const digest = createHash('sha256')
      .update(request.body ?? new Uint8Array(0))
      .digest('base64url')
    const text = [from, to, at, nonce, request.method.toUpperCase(), request.path, digest]
    return createHmac('sha256', this.peerKey!).update(text.join('\n')).digest('base64url')
  }
}
