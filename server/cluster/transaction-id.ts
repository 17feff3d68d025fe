/**
 * Transaction ids that name their owner. An id carries the node (a short key of its
 * address), the worker process and that worker's incarnation that hold the transaction, 192
 * random bits, and a tag: an HMAC, under the cluster's secret, of all that and of the hash
 * of the token that began it. So any worker of any node can tell, without asking anyone,
 * where a transaction lives and whether the token presented is the one that began it: a
 * forged or borrowed id is refused where it lands, never forwarded, and how a lost
 * transaction ended is told only to its own token.
 *
 * Layout (44 bytes, base64url, 59 characters): version 1 | node key 6 | worker 1 |
 * incarnation 4 | random 24 | tag 8.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

const VERSION = 1
const LENGTH = 44
const SIGNED = 36
const ID_TEXT = /^[A-Za-z0-9_-]{59}$/

/** Where a transaction lives. */
export interface TransactionOwner {
  /** The node's key (12 hex digits), see {@link nodeKeyOf}. */
  nodeKey: string
  /** The worker's index on its node (0 for a gateway without workers). */
  worker: number
  /** Which start of that worker (a restarted worker has a new one). */
  incarnation: number
}

/** The key of a node's address (`10.0.0.7:8080`), as ids carry it. */
export function nodeKeyOf(address: string): string {
  return createHash('sha256').update(`sluice node ${address}`).digest('hex').slice(0, 12)
}

/** The owner an id names, or undefined for text that is not one of these ids. */
export function ownerOf(id: string): TransactionOwner | undefined {
  if (!ID_TEXT.test(id)) return undefined
  const bytes = Buffer.from(id, 'base64url')
  if (bytes.length !== LENGTH || bytes[0] !== VERSION) return undefined
  return {
    nodeKey: bytes.subarray(1, 7).toString('hex'),
    worker: bytes[7]!,
    incarnation: bytes.readUInt32BE(8),
  }
}

/** Mints and checks the ids of one worker's transactions. */
export class TransactionIds {
  readonly owner: TransactionOwner
  private readonly key: Buffer

  /** `secret`: shared by every process that must check these ids (every node's workers). */
  constructor(secret: string | Buffer, owner: TransactionOwner) {
    this.key = createHmac('sha256', secret).update('sluice transaction ids v1').digest()
    this.owner = owner
  }

  /** A new id, bound to the hash of the token that begins the transaction. */
  mint(tokenHash: string): string {
    const bytes = Buffer.alloc(LENGTH)
    bytes[0] = VERSION
    bytes.write(this.owner.nodeKey, 1, 6, 'hex')
    bytes[7] = this.owner.worker
    bytes.writeUInt32BE(this.owner.incarnation, 8)
    randomBytes(24).copy(bytes, 12)
    this.tag(bytes.subarray(0, SIGNED), tokenHash).copy(bytes, SIGNED)
    return bytes.toString('base64url')
  }

  /** Whether `id` is one of ours and was minted for the token with this hash. */
  verify(id: string, tokenHash: string): boolean {
    if (ownerOf(id) === undefined) return false
    const bytes = Buffer.from(id, 'base64url')
    return timingSafeEqual(this.tag(bytes.subarray(0, SIGNED), tokenHash), bytes.subarray(SIGNED))
  }

  /** Whether this worker holds the transactions `owner` names. */
  isMine(owner: TransactionOwner): boolean {
    return (
      owner.nodeKey === this.owner.nodeKey &&
      owner.worker === this.owner.worker &&
      owner.incarnation === this.owner.incarnation
    )
  }

  private tag(signed: Buffer, tokenHash: string): Buffer {
    return createHmac('sha256', this.key).update(signed).update(tokenHash).digest().subarray(0, 8)
  }
}
