/**
 * SCRAM-SHA-256 (RFC 5802 / RFC 7677), the server's side, as PostgreSQL runs it: the
 * password is the tenant token. The token is never sent; the client proves it knows it.
 * Since a token, not a user name, decides the tenant, the proof is checked against each
 * candidate token's keys (all salted with the gateway's one salt), which are derived once
 * per token and cached. Tokens configured only as sha256 digests cannot take part: their
 * holders use cleartext where it is allowed (docs/wire.md).
 */
import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto'

/** PostgreSQL's default iteration count (scram_iterations). */
const ITERATIONS = 4096

/** The keys a server keeps of one password (RFC 5802 §3). */
interface ScramKeys {
  storedKey: Buffer
  serverKey: Buffer
}

function hmac(key: Buffer, text: string): Buffer {
  return createHmac('sha256', key).update(text).digest()
}

/** Derives and caches each token's keys under the gateway's salt. */
export class ScramKeyring {
  private readonly salt = randomBytes(16)
  private readonly keys = new Map<string, Promise<ScramKeys>>()

  /** The salt and iterations sent to every client. */
  get saltBase64(): string {
    return this.salt.toString('base64')
  }

  get iterations(): number {
    return ITERATIONS
  }

  /** The keys of `token` (derived in libuv's thread pool the first time). */
  keysOf(token: string): Promise<ScramKeys> {
    let keys = this.keys.get(token)
    if (!keys) {
      keys = new Promise<ScramKeys>((resolve, reject) =>
        pbkdf2(token, this.salt, ITERATIONS, 32, 'sha256', (error, salted) => {
          if (error) return reject(error)
          const clientKey = hmac(salted, 'Client Key')
          resolve({
            storedKey: createHash('sha256').update(clientKey).digest(),
            serverKey: hmac(salted, 'Server Key'),
          })
        }),
      )
      this.keys.set(token, keys)
    }
    return keys
  }

  /** Drops the keys of tokens no longer configured (after a reload). */
  keep(tokens: ReadonlySet<string>): void {
    for (const token of this.keys.keys()) if (!tokens.has(token)) this.keys.delete(token)
  }
}

/** A SCRAM message the client got wrong: the exchange ends with 08P01. */
export class ScramError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ScramError'
  }
}

function attributes(text: string): Map<string, string> {
  const map = new Map<string, string>()
  for (const part of text.split(',')) {
    if (part.length < 2 || part[1] !== '=') continue
    map.set(part[0]!, part.slice(2))
  }
  return map
}

/** One client's SCRAM exchange. */
export class ScramExchange {
  private gs2Header = ''
  private clientFirstBare = ''
  private serverFirst = ''
  private nonce = ''

  constructor(private readonly keyring: ScramKeyring) {}

  /** Takes the client-first-message; returns the server-first-message. */
  first(clientFirst: string): string {
    const match = /^([ny]|p=[^,]*),([^,]*),(.*)$/.exec(clientFirst)
    if (!match) throw new ScramError('malformed SCRAM client-first-message')
    if (match[1]!.startsWith('p'))
      throw new ScramError('channel binding was not offered: use SCRAM-SHA-256 without -PLUS')
    this.gs2Header = `${match[1]},${match[2]},`
    this.clientFirstBare = match[3]!
    const clientNonce = attributes(this.clientFirstBare).get('r')
    if (!clientNonce) throw new ScramError('the SCRAM client-first-message has no nonce')
    this.nonce = clientNonce + randomBytes(18).toString('base64')
    this.serverFirst = `r=${this.nonce},s=${this.keyring.saltBase64},i=${this.keyring.iterations}`
    return this.serverFirst
  }

  /**
   * Takes the client-final-message and checks its proof against each candidate token.
   * Resolves with the token proven and the server-final-message, or `undefined`.
   */
  async final(
    clientFinal: string,
    candidates: readonly string[],
  ): Promise<{ token: string; serverFinal: string } | undefined> {
    const proofAt = clientFinal.lastIndexOf(',p=')
    if (proofAt < 0) throw new ScramError('the SCRAM client-final-message has no proof')
    const withoutProof = clientFinal.slice(0, proofAt)
    const fields = attributes(withoutProof)
    if (fields.get('c') !== Buffer.from(this.gs2Header).toString('base64'))
      throw new ScramError('SCRAM channel binding does not match')
    if (fields.get('r') !== this.nonce) throw new ScramError('SCRAM nonce does not match')
    const proof = Buffer.from(clientFinal.slice(proofAt + 3), 'base64')
    if (proof.length !== 32) throw new ScramError('malformed SCRAM proof')
    const authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`
    const keys = await Promise.all(candidates.map((token) => this.keyring.keysOf(token)))
    let found: number | undefined
    // Every candidate is checked, so the time taken does not tell which one matched.
    keys.forEach(({ storedKey }, i) => {
      const signature = hmac(storedKey, authMessage)
      const clientKey = Buffer.alloc(32)
      for (let b = 0; b < 32; b++) clientKey[b] = proof[b]! ^ signature[b]!
      const digest = createHash('sha256').update(clientKey).digest()
      if (timingSafeEqual(digest, storedKey)) found ??= i
    })
    if (found === undefined) return undefined
    const serverSignature = hmac(keys[found]!.serverKey, authMessage).toString('base64')
    return { token: candidates[found]!, serverFinal: `v=${serverSignature}` }
  }
}
