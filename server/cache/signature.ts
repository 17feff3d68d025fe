/**
 * The signatures of the invalidation channel's member messages (./messages.ts). Anyone who
 * can connect to the database can NOTIFY the channel, readonly token holders included
 * (PostgreSQL allows NOTIFY and pg_notify() in a READ ONLY transaction), so a message of
 * a Sluice process carries an HMAC-SHA256 of its words under a key every process of the
 * deployment shares, as its last word. The trigger messages (`t`, `d`) cannot carry one
 * without putting the key in the database; they only ever drop entries.
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto'

/** Bytes of the HMAC kept: 128 bits, 22 base64url characters. */
const MAC_BYTES = 16
const MAC_LENGTH = Math.ceil((MAC_BYTES * 4) / 3)

/** What the key of the channel is derived for, so a secret is never used raw for two jobs. */
const LABEL = 'sluice cache channel v1'

/**
 * The channel's key, derived (HKDF-SHA256) from a secret the deployment's processes share:
 * `server.cacheSecret`, else `server.cluster.secret`, else the node's own secret (its
 * workers share it; docs/cache.md "The key").
 */
export function channelKey(secret: string | Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), LABEL, 32))
}

/** Signs payloads, and opens the ones signed with the same key. */
export class ChannelSigner {
  private readonly key: Buffer

  constructor(key: Buffer) {
    this.key = key
    // Like pg's password: out of any dump of this object.
    Object.defineProperty(this, 'key', { enumerable: false })
  }

  /** `body` with its signature as the last word. */
  sign(body: string): string {
    return `${body} ${this.mac(body)}`
  }

  /** The body of a payload signed with our key; undefined when its signature is missing or wrong. */
  open(payload: string): string | undefined {
    const space = payload.lastIndexOf(' ')
    if (space < 0 || payload.length - space - 1 !== MAC_LENGTH) return undefined
    const body = payload.slice(0, space)
    const given = Buffer.from(payload.slice(space + 1))
    const expected = Buffer.from(this.mac(body))
    return given.length === expected.length && timingSafeEqual(given, expected) ? body : undefined
  }

  private mac(body: string): string {
    return createHmac('sha256', this.key)
      .update(body)
      .digest()
      .subarray(0, MAC_BYTES)
      .toString('base64url')
  }
}
