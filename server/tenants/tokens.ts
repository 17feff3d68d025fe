/**
 * Bearer tokens → tenant and role. Tokens are kept only as sha256 digests; a request's
 * token is hashed and looked up, then compared in constant time.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { SluiceError } from '../../src/errors.js'
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
  return createHash('sha256').update(token).digest('hex')
}

/** Resolves bearer tokens to principals. */
export class TokenIndex {
  private readonly byHash = new Map<string, Principal>()

  /** Adds a tenant's tokens. */
  add(tenant: string, tokens: readonly TokenConfig[]): void {
    for (const entry of tokens) {
      const tokenHash = 'token' in entry ? hashToken(entry.token) : entry.sha256.toLowerCase()
      this.byHash.set(tokenHash, { tenant, role: entry.role, tokenHash })
    }
  }

  /** The principal of an `Authorization` header value; throws UNAUTHORIZED. */
  authenticate(header: string | undefined): Principal {
    const match = header === undefined ? null : /^Bearer[ ]+(\S+)\s*$/i.exec(header)
    if (!match) {
      throw new SluiceError(
        'UNAUTHORIZED',
        'send the tenant token as "Authorization: Bearer <token>"',
      )
    }
    return this.authenticateToken(match[1]!)
  }

  /** The principal of a bare token; throws UNAUTHORIZED. */
  authenticateToken(token: string): Principal {
    const digest = hashToken(token)
    const principal = this.byHash.get(digest)
    if (
      !principal ||
      !timingSafeEqual(Buffer.from(digest, 'hex'), Buffer.from(principal.tokenHash, 'hex'))
    ) {
      throw new SluiceError('UNAUTHORIZED', 'unknown token')
    }
    return principal
  }
}
