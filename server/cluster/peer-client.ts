/**
 * Requests from this node to a peer's HTTP listener: the checks that tell which peers are
 * alive, and the admin actions fanned out to them. Signed with the cluster's secret
 * (./hop-auth.ts); a peer that does not answer within the time allowed counts as
 * unreachable, with the reason.
 */
import { ANY_NODE, HOP_HEADER, type HopAuth } from './hop-auth.js'

/** A peer's answer. */
export interface PeerAnswer {
  status: number
  body: unknown
}

/** Sends signed requests to peers. */
export class PeerClient {
  constructor(
    private readonly self: string,
    private readonly auth: HopAuth,
    private readonly connectTimeoutMs: number,
  ) {}

  /**
   * `method path` (no body) on the peer at `address`, signed for its `key` (none: only the
   * check, `GET /_sluice/peer`, which learns it); `waitMs` is how long the action itself may
   * take there (a pause waits for borrowed connections), on top of the time to reach it.
   */
  async request(
    peer: { address: string; key?: string | undefined },
    method: string,
    path: string,
    waitMs = 0,
  ): Promise<PeerAnswer> {
    const to = peer.key ?? ANY_NODE
    const response = await fetch(`http://${peer.address}${path}`, {
      method,
      headers: { [HOP_HEADER]: this.auth.peer(this.self, { to, method, path }) },
      signal: AbortSignal.timeout(this.connectTimeoutMs + waitMs),
    })
    const text = await response.text()
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch {
      body = { text }
    }
    return { status: response.status, body }
  }
}

/** Why a peer could not be asked, in a few words (`ECONNREFUSED`, `timed out after 2000 ms`). */
export function unreachable(error: unknown, timeoutMs: number): string {
  const named = error as { name?: string; cause?: { code?: string; message?: string } }
  if (named?.name === 'TimeoutError' || named?.name === 'AbortError')
    return `no answer within ${timeoutMs} ms`
  const cause = named?.cause
  return cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error))
}
