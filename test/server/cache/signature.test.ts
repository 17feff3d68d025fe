/**
 * The channel's signatures and how a member reads what arrives: which key the processes of
 * a deployment share, that only a payload signed with it is believed, that an old tick sent
 * again is known for one, and that the triggers' unsigned messages can only drop entries.
 */
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { Inbox } from '../../../server/cache/inbox.js'
import {
  decodeMember,
  decodeTrigger,
  encodeOutgoing,
  MAX_PAYLOAD,
} from '../../../server/cache/messages.js'
import { ChannelSigner, channelKey } from '../../../server/cache/signature.js'
import { ClusterNode } from '../../../server/cluster/node.js'

const secret = 'a-cache-secret-that-is-long-enough-123456'
const signer = new ChannelSigner(channelKey(secret))

const node = (nodeSecret: Buffer, clusterSecret?: string) =>
  new ClusterNode({
    address: '127.0.0.1:8080',
    worker: { index: 1, incarnation: 1, count: 2 },
    nodeSecret,
    clusterSecret,
  })

describe('the channel key', () => {
  it('is shared by the workers of a node, and by every node of a cluster', () => {
    const nodeSecret = randomBytes(32)
    expect(node(nodeSecret).cacheKey).toEqual(node(nodeSecret).cacheKey)
    expect(node(randomBytes(32)).cacheKey).not.toEqual(node(nodeSecret).cacheKey)
    expect(node(randomBytes(32), secret).cacheKey).toEqual(node(randomBytes(32), secret).cacheKey)
  })

  it('is derived from the secret, never the secret itself, and stays out of dumps', () => {
    const key = channelKey(secret)
    expect(key).toHaveLength(32)
    expect(key.toString('latin1')).not.toContain(secret)
    expect(channelKey(secret + 'x')).not.toEqual(key)
    expect(JSON.stringify(node(randomBytes(32), secret))).not.toContain(key.toString('hex'))
    expect(JSON.stringify(signer)).toBe('{}')
  })
})

describe('a signed payload', () => {
  it('opens with the same key only, and not once any character changed', () => {
    const payload = signer.sign('a abc123 def456:7')
    expect(payload).toMatch(/^a abc123 def456:7 [A-Za-z0-9_-]{22}$/)
    expect(signer.open(payload)).toBe('a abc123 def456:7')
    expect(new ChannelSigner(channelKey(`${secret}!`)).open(payload)).toBeUndefined()
    expect(signer.open(payload.replace('def456:7', 'def456:8'))).toBeUndefined()
    expect(signer.open(payload.slice(0, -1) + (payload.endsWith('A') ? 'B' : 'A'))).toBeUndefined()
    expect(signer.open('a abc123 def456:7')).toBeUndefined()
    expect(signer.open(`${payload} extra`)).toBeUndefined()
    expect(signer.open('')).toBeUndefined()
  })

  it('stays ASCII and within a NOTIFY payload, the longest table list included', () => {
    const tables = Array.from({ length: 2000 }, (_, i) => 1_000_000_000 + i)
    const [payload] = encodeOutgoing(randomBytes(8).toString('hex'), [
      { message: { type: 'tables', tables }, seq: 999_999_999_999_999 },
    ]).map((p) => signer.sign(p))
    expect(payload!.length).toBeLessThanOrEqual(MAX_PAYLOAD)
    expect(payload).toMatch(/^[\x20-\x7e]+$/)
    const near = tables.slice(0, Math.floor((MAX_PAYLOAD - 96) / 11))
    const [fits] = encodeOutgoing('0123456789abcdef', [
      { message: { type: 'tables', tables: near }, seq: 999_999_999_999_999 },
    ]).map((p) => signer.sign(p))
    expect(fits).not.toContain(' * ')
    expect(fits!.length).toBeLessThanOrEqual(MAX_PAYLOAD)
  })
})

describe('what a member makes of a payload', () => {
  it('reads member messages word for word, and nothing with a word too many or too few', () => {
    expect(decodeMember('k abc 7')).toEqual({ type: 'tick', from: 'abc', tick: 7 })
    expect(decodeMember('b abc')).toEqual({ type: 'bye', from: 'abc' })
    expect(decodeMember('p abc 3 main')).toMatchObject({ tenant: 'main', tag: undefined })
    expect(decodeMember('p abc 3 main plans')).toMatchObject({ tenant: 'main', tag: 'plans' })
    for (const bad of [
      'k abc',
      'k abc 7 8',
      'b abc 1',
      'i abc 1',
      'i abc 1 2 3',
      'a abc',
      'p abc 3',
    ])
      expect(decodeMember(bad), bad).toBeUndefined()
    expect(decodeTrigger('t 16384')).toEqual({ type: 'table', table: 16384 })
    expect(decodeTrigger('d')).toEqual({ type: 'ddl' })
    expect(decodeTrigger('t 16384 x')).toBeUndefined()
    expect(decodeTrigger('d x')).toBeUndefined()
  })

  it('believes only messages signed with its key; triggers need none', () => {
    const inbox = new Inbox(signer)
    expect(inbox.read('t 16384')).toEqual({
      kind: 'trigger',
      message: { type: 'table', table: 16384 },
    })
    expect(inbox.read(signer.sign('i abc 1 16384'))).toMatchObject({ kind: 'member' })
    const other = new ChannelSigner(channelKey(`${secret}!`))
    expect(inbox.read(other.sign('a abc def:9'))).toEqual({
      kind: 'unverified',
      claims: { type: 'ack', from: 'abc', acks: new Map([['def', 9]]) },
    })
    expect(inbox.read('b abc')).toEqual({
      kind: 'unverified',
      claims: { type: 'bye', from: 'abc' },
    })
    expect(inbox.read('hello there')).toEqual({ kind: 'unverified', claims: undefined })
    // Signed, but nothing this version knows.
    expect(inbox.read(signer.sign('z abc 1'))).toEqual({ kind: 'unknown' })
  })

  it("takes each member's ticks only in increasing order: an old one again is a replay", () => {
    const inbox = new Inbox(signer)
    const hello = signer.sign('h abc 1')
    const tick = signer.sign('k abc 2')
    expect(inbox.read(hello).kind).toBe('member')
    expect(inbox.read(tick).kind).toBe('member')
    expect(inbox.read(hello).kind).toBe('replay')
    expect(inbox.read(tick).kind).toBe('replay')
    expect(inbox.read(signer.sign('k abc 3')).kind).toBe('member')
    // Each member has its own count.
    expect(inbox.read(signer.sign('k def 1')).kind).toBe('member')
  })
})
