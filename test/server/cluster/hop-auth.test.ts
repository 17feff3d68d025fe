import { describe, expect, it } from 'vitest'
import { HopAuth } from '../../../server/cluster/hop-auth.js'

const CLUSTER = 'a-cluster-secret-of-32-characters!'

describe('credentials between gateway processes', () => {
  it("pass a worker's token between the workers of one node only", () => {
    const node = new HopAuth('node secret', undefined)
    expect(node.check(node.worker(), 'POST', '/v1/transactions/x/query')).toEqual({ hop: 'worker' })
    expect(new HopAuth('another node', undefined).check(node.worker(), 'POST', '/x')).toBe(
      'invalid',
    )
  })

  it("sign a peer's request for its method, path and time, under the cluster's secret", () => {
    const a = new HopAuth('node a', CLUSTER)
    const b = new HopAuth('node b', CLUSTER)
    const now = 1_700_000_000_000
    const header = a.peer('10.0.0.1:8080', 'POST', '/admin/reload', now)
    expect(b.check(header, 'POST', '/admin/reload', now + 1000)).toEqual({
      hop: 'peer',
      from: '10.0.0.1:8080',
    })
    expect(b.check(header, 'POST', '/admin/tenants/x/pause', now)).toBe('invalid')
    expect(b.check(header, 'GET', '/admin/reload', now)).toBe('invalid')
    // Replayed after the window, or sent with another secret.
    expect(b.check(header, 'POST', '/admin/reload', now + 61_000)).toBe('invalid')
    expect(
      new HopAuth('node c', 'another-cluster-secret-32-chars!!').check(
        header,
        'POST',
        '/admin/reload',
        now,
      ),
    ).toBe('invalid')
    // A node without peers takes no peer's word at all.
    expect(new HopAuth('lone', undefined).check(header, 'POST', '/admin/reload', now)).toBe(
      'invalid',
    )
  })

  it('tell a request without credentials (a client) from one with bad ones', () => {
    const node = new HopAuth('node', CLUSTER)
    expect(node.check(undefined, 'GET', '/')).toBeUndefined()
    for (const bad of ['', 'worker', 'peer a b', 'peer a notatime sig', 'admin x', 'worker a b'])
      expect(node.check(bad, 'GET', '/')).toBe('invalid')
  })
})
