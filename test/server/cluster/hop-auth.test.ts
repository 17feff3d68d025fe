import { createHash, createHmac } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { ANY_NODE, HopAuth } from '../../../server/cluster/hop-auth.js'
import { nodeKeyOf } from '../../../server/cluster/transaction-id.js'

const CLUSTER = 'a-cluster-secret-of-32-characters!'
const A = '10.0.0.1:8080'
const B = '10.0.0.2:8080'

describe('credentials between gateway processes', () => {
  it("pass a worker's token between the workers of one node only", () => {
    const node = new HopAuth('node secret', undefined)
    const request = { method: 'POST', path: '/v1/transactions/x/query' }
    expect(node.check(node.worker(), request)).toEqual({ hop: 'worker' })
    expect(new HopAuth('another node', undefined).check(node.worker(), request)).toBe('invalid')
  })

  it("sign a peer's request for its destination, method, path, body and time, under the cluster's secret", () => {
    const a = new HopAuth('node a', CLUSTER, nodeKeyOf(A))
    const b = new HopAuth('node b', CLUSTER, nodeKeyOf(B))
    const now = 1_700_000_000_000
    const body = Buffer.from('{"sql":"select 1"}')
    const request = { method: 'POST', path: '/v1/transactions/x/query?s=1', body }
    const header = a.peer(A, { ...request, to: nodeKeyOf(B) }, now)
    expect(b.check(header, request, now + 1000)).toEqual({
      hop: 'peer',
      from: A,
      nonce: expect.stringMatching(/^[\w-]{22}$/),
      signedAt: now,
    })
    expect(b.check(header, { ...request, path: '/v1/transactions/y/query?s=1' }, now)).toBe(
      'invalid',
    )
    expect(b.check(header, { ...request, path: '/v1/transactions/x/query?s=2' }, now)).toBe(
      'invalid',
    )
    expect(b.check(header, { ...request, method: 'PUT' }, now)).toBe('invalid')
    expect(b.check(header, { ...request, body: Buffer.from('{"sql":"select 2"}') }, now)).toBe(
      'invalid',
    )
    expect(b.check(header, { ...request, body: undefined }, now)).toBe('invalid')
    // Sent to another node than the one it names.
    expect(a.check(header, request, now)).toBe('invalid')
    expect(a.refusal(header, request, now)).toMatch(/signed for another node/)
    // Replayed after the window, or sent with another secret.
    expect(b.check(header, request, now + 61_000)).toBe('invalid')
    expect(b.refusal(header, request, now + 61_000)).toMatch(/61 s from this node's clock/)
    expect(
      new HopAuth('node c', 'another-cluster-secret-32-chars!!', nodeKeyOf(B)).check(
        header,
        request,
        now,
      ),
    ).toBe('invalid')
    // A node without peers takes no peer's word at all.
    expect(new HopAuth('lone', undefined, nodeKeyOf(B)).check(header, request, now)).toBe('invalid')
  })

  it('give every signature its own nonce', () => {
    const a = new HopAuth('node a', CLUSTER, nodeKeyOf(A))
    const request = { method: 'POST', path: '/admin/reload', to: nodeKeyOf(B) }
    const nonces = new Set(Array.from({ length: 50 }, () => a.peer(A, request, 1).split(' ')[4]))
    expect(nonces.size).toBe(50)
  })

  it("sign for any node only the peer check, which learns the node's key", () => {
    const a = new HopAuth('node a', CLUSTER, nodeKeyOf(A))
    const b = new HopAuth('node b', CLUSTER, nodeKeyOf(B))
    const check = { method: 'GET', path: '/_sluice/peer' }
    const header = a.peer(A, { ...check, to: ANY_NODE })
    expect(b.check(header, check)).toMatchObject({ hop: 'peer', from: A })
    expect(() => a.peer(A, { method: 'POST', path: '/admin/reload', to: ANY_NODE })).toThrow(
      /only GET \/_sluice\/peer/,
    )
    // A signature for any node made (with the secret) for another route counts nowhere.
    const now = Date.now()
    const nonce = 'n'.repeat(22)
    const key = createHmac('sha256', CLUSTER).update('sluice peer requests v2').digest()
    const empty = createHash('sha256').digest('base64url')
    const text = [A, ANY_NODE, now, nonce, 'POST', '/admin/reload', empty].join('\n')
    const signature = createHmac('sha256', key).update(text).digest('base64url')
    const wildcard = `peer ${A} ${ANY_NODE} ${now} ${nonce} ${signature}`
    expect(b.check(wildcard, { method: 'POST', path: '/admin/reload' }, now)).toBe('invalid')
    expect(b.refusal(wildcard, { method: 'POST', path: '/admin/reload' }, now)).toMatch(
      /signed for another node/,
    )
  })

  it('tell a request without credentials (a client) from one with bad ones', () => {
    const node = new HopAuth('node', CLUSTER, nodeKeyOf(A))
    const request = { method: 'GET', path: '/' }
    expect(node.check(undefined, request)).toBeUndefined()
    for (const bad of [
      '',
      'worker',
      'peer a b',
      `peer a ${nodeKeyOf(A)} notatime nonce sig`,
      `peer a ${nodeKeyOf(A)} ${Date.now()} short sig`,
      'admin x',
      'worker a b',
    ])
      expect(node.check(bad, request)).toBe('invalid')
  })

  it('never show the secrets it holds', () => {
    const auth = new HopAuth('node secret', CLUSTER, nodeKeyOf(A))
    const shown = JSON.stringify(auth)
    expect(shown).not.toContain(auth.worker().slice('worker '.length))
    expect(Object.keys(auth)).not.toContain('peerKey')
  })
})
