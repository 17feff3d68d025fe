/**
 * One check of the credentials another gateway process sends (`x-sluice-forwarded`,
 * server/cluster/hop-auth.ts), for every way a request comes in. A peer's signature covers
 * the body, so its body is read (up to `server.bodyLimitBytes`) and checked before anything
 * acts on the request, then kept for whoever reads it next (./node-request.ts); its nonce is
 * then claimed once for the node, so a replay fails. The listener checks a peer's request
 * before it picks a path (./listener.ts) and leaves the outcome on the request, which the
 * forwarder and the app's middleware read; without a Node request (`app.request()`), the
 * middleware checks it itself.
 */
import type { IncomingMessage } from 'node:http'
import { SluiceError } from '../../src/errors.js'
import { HOP_HEADER, PEER_WINDOW_MS, type Hop } from '../cluster/hop-auth.js'
import type { ClusterNode } from '../cluster/node.js'
import { REPLAY_GUARD_MAX } from '../cluster/replay-guard.js'
import { unauthorized } from '../errors.js'
import { keepBody, readNodeBytes } from './node-request.js'

/** A request as the check needs it; `body` is read only for a peer's request. */
export interface HopRequest {
  method: string
  path: string
  body: () => Promise<Uint8Array>
}

const EMPTY = new Uint8Array(0)

/**
 * Who sent a request with the hop header `value`: `undefined` for a client's own request.
 * Throws UNAUTHORIZED when the credentials do not check out (or were used before), and
 * RATE_LIMITED when the node remembers too many peers' requests to take another.
 */
export async function authenticateHop(
  cluster: ClusterNode,
  value: string | undefined,
  request: HopRequest,
): Promise<Hop | undefined> {
  if (value === undefined) return undefined
  const { method, path } = request
  const peer = isPeerHop(value)
  // Refused before its body is read when nothing the body could hold would make it check out.
  if (peer && !cluster.auth.mayBePeer(value, { method, path }))
    throw unauthorized(cluster.auth.refusal(value, { method, path }))
  const body = peer ? await request.body() : EMPTY
  const checked = cluster.auth.check(value, { method, path, body })
  if (checked === 'invalid') throw unauthorized(cluster.auth.refusal(value, { method, path }))
  if (checked === undefined || checked.hop === 'worker') return checked
  let claim
  try {
    claim = await cluster.claimNonce(checked.nonce, checked.signedAt)
  } catch {
    // Only when the primary is gone: this worker is stopping.
    throw new SluiceError('SHUTTING_DOWN', 'this gateway process is stopping')
  }
  if (claim === 'replayed')
    throw unauthorized(
      `this ${HOP_HEADER} signature was already used: a peer's request is accepted once, and a replay is refused`,
    )
  if (claim === 'stale')
    throw unauthorized(
      `this ${HOP_HEADER} signature was made before this node started, and a request from before a restart is not accepted (if the node just started, its peer's clock may be behind: keep the nodes' clocks in sync, NTP)`,
    )
  if (claim === 'full')
    throw new SluiceError(
      'RATE_LIMITED',
      `this node took ${REPLAY_GUARD_MAX} peer requests within ${PEER_WINDOW_MS / 1000} s, the most it remembers to refuse replays: try again shortly`,
    )
  return { hop: 'peer', from: checked.from }
}

/** Whether a hop header value is a peer's (whose check needs the body). */
export function isPeerHop(value: string): boolean {
  return value.startsWith('peer ')
}

// The outcome of the listener's check, as a property of the request.
const CHECKED = Symbol('sluice.hopChecked')

type Outcome = { hop: Hop | undefined } | { error: unknown }
type Checked = IncomingMessage & { [CHECKED]?: Outcome }

/**
 * Checks the credentials of a Node request, reading its body when they are a peer's (kept
 * for its readers); resolves with the outcome, also left on the request for
 * {@link nodeHop}.
 */
export async function checkNodeHop(
  cluster: ClusterNode,
  req: IncomingMessage,
  bodyLimitBytes: number,
): Promise<Outcome> {
  let outcome: Outcome
  try {
    const hop = await authenticateHop(cluster, req.headers[HOP_HEADER] as string | undefined, {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      body: async () => {
        const body = await readNodeBytes(req, bodyLimitBytes)
        keepBody(req, body)
        return body
      },
    })
    outcome = { hop }
  } catch (error) {
    outcome = { error }
  }
  ;(req as Checked)[CHECKED] = outcome
  return outcome
}

/**
 * Who sent a Node request: the outcome {@link checkNodeHop} left on it (thrown when it was
 * a refusal), else the check now (a worker's token needs no body).
 */
export async function nodeHop(
  cluster: ClusterNode,
  req: IncomingMessage,
  bodyLimitBytes: number,
): Promise<Hop | undefined> {
  const outcome = (req as Checked)[CHECKED] ?? (await checkNodeHop(cluster, req, bodyLimitBytes))
  if ('error' in outcome) throw outcome.error
  return outcome.hop
}
