/**
 * Bearer tokens → tenant and role. Tokens are kept only as sha256 digests; a presented
 * token is hashed and looked up by its digest, so the time a lookup takes can only depend
 * on the digest of what was presented, never on a stored token. The one parser of the
 * `Authorization: Bearer` header lives here too.
 */
import { createHash, hash, timingSafeEqual } from 'node:crypto'
import type { TokenConfig } from '../config/schema.js'

/** What a token may do. */
export type Role = 'readwrite' | 'readonly'

/** The caller a token identifies. */
export interface Principal {
  tenant: string
  role: Role
  /** sha256 of the token, hex: binds transactions to the token that opened them. */
  tokenHash: string
}

/** sha256 of a token, as hex (the form a config may store). */
export function hashToken(token: string): string {
  // The one-shot hash: about half the cost of createHash() for a token.
  return hash('sha256', token, 'hex')
}

const BEARER = /^Bearer[ ]+(\S+)\s*$/i

/** The token of an `Authorization: Bearer <token>` header value, or `undefined`. */
export function bearerToken(header: string | undefined): string | undefined {
  return header === undefined ? undefined : BEARER.exec(header)?.[1]
}

/** True when `given` is `expected`, compared in constant time whatever their lengths. */
export function sameToken(given: string, expected: string): boolean {
  return timingSafeEqual(
    createHash('sha256').update(given).digest(),
    createHash('sha256').update(expected).digest(),
  )
}

/** Resolves tokens to principals. */
export class TokenIndex {
  private readonly byHash = new Map<string, Principal>()

  /** Adds a tenant's tokens. */
  add(tenant: string, tokens: readonly TokenConfig[]): void {
    for (const entry of tokens) {
      const tokenHash = 'token' in entry ? hashToken(entry.token) : entry.sha256.toLowerCase()
      this.byHash.set(tokenHash, { tenant, role: entry.role, tokenHash })
    }
  }

  /** The principal of a token, or `undefined` for an unknown one. */
  lookup(token: string): Principal | undefined {
    return this.byHash.get(hashToken(token))
  }
}
