import { describe, expect, it } from 'vitest'
import { ReplayGuard } from '../../../server/cluster/replay-guard.js'

// Signatures count for 1000 ms after they are made; the guard started at 0.
const guardOf = (max?: number) => new ReplayGuard(1000, max, 0)

describe('replay guard', () => {
  it('accepts a nonce once while its signature counts', () => {
    const guard = guardOf()
    expect(guard.claim('n1', 0, 0)).toBe('fresh')
    expect(guard.claim('n1', 0, 500)).toBe('replayed')
    expect(guard.claim('n2', 0, 500)).toBe('fresh')
  })

  it('forgets a nonce once its signature expired', () => {
    const guard = guardOf()
    guard.claim('n1', 0, 0)
    guard.claim('n2', 1000, 1000)
    expect(guard.claim('n3', 1400, 1500)).toBe('fresh')
    expect(guard.size).toBe(2)
  })

  it('refuses what was signed before it started: a request read before a restart', () => {
    const guard = new ReplayGuard(1000, undefined, 5000)
    expect(guard.claim('old', 4999, 5100)).toBe('stale')
    expect(guard.claim('new', 5000, 5100)).toBe('fresh')
  })

  it('refuses a new nonce rather than grow past its bound, and takes them again as old ones expire', () => {
    const guard = guardOf(3)
    for (const nonce of ['a', 'b', 'c']) expect(guard.claim(nonce, 0, 0)).toBe('fresh')
    expect(guard.claim('d', 0, 10)).toBe('full')
    expect(guard.claim('a', 0, 10)).toBe('replayed')
    expect(guard.size).toBe(3)
    expect(guard.claim('d', 1000, 1001)).toBe('fresh')
    expect(guard.size).toBe(1)
  })

  it('finds expired entries behind live ones when full (a peer whose clock runs ahead)', () => {
    const guard = guardOf(2)
    guard.claim('ahead', 4000, 0)
    guard.claim('behind', 0, 0)
    expect(guard.claim('new', 5000, 2000)).toBe('fresh')
    expect(guard.size).toBe(2)
  })
})
