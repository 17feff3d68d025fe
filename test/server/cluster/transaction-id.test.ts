import { describe, expect, it } from 'vitest'
import { TransactionIds, nodeKeyOf, ownerOf } from '../../../server/cluster/transaction-id.js'
import { hashToken } from '../../../server/tenants/tokens.js'

const owner = { nodeKey: nodeKeyOf('10.0.0.7:8080'), worker: 3, incarnation: 0xdeadbeef }
const mine = hashToken('a-token-of-the-tenant')
const theirs = hashToken('another-token-entirely')

describe('transaction ids', () => {
  it('name the node, worker and incarnation that hold them, in 59 URL-safe characters', () => {
    const ids = new TransactionIds('secret', owner)
    const id = ids.mint(mine)
    expect(id).toMatch(/^[A-Za-z0-9_-]{59}$/)
    expect(ownerOf(id)).toEqual(owner)
    expect(ids.isMine(ownerOf(id)!)).toBe(true)
    expect(ids.mint(mine)).not.toBe(id)
  })

  it('check out only for the token that began the transaction, under the same secret', () => {
    const ids = new TransactionIds('secret', owner)
    const id = ids.mint(mine)
    expect(ids.verify(id, mine)).toBe(true)
    expect(ids.verify(id, theirs)).toBe(false)
    // Any process that shares the secret can check it (another worker, another node).
    expect(new TransactionIds('secret', { ...owner, worker: 1 }).verify(id, mine)).toBe(true)
    expect(new TransactionIds('other secret', owner).verify(id, mine)).toBe(false)
  })

  it('refuse a changed id: another owner, another random part, a changed tag', () => {
    const ids = new TransactionIds('secret', owner)
    const bytes = Buffer.from(ids.mint(mine), 'base64url')
    for (const at of [1, 7, 9, 20, 40]) {
      const changed = Buffer.from(bytes)
      changed[at]! ^= 1
      expect(ids.verify(changed.toString('base64url'), mine)).toBe(false)
    }
  })

  it('read nothing from text that is not one of these ids', () => {
    for (const text of ['', 'abc', 'x'.repeat(59), `${'A'.repeat(58)}=`, 'a'.repeat(32)]) {
      expect(ownerOf(text)).toBeUndefined()
      expect(new TransactionIds('secret', owner).verify(text, mine)).toBe(false)
    }
  })
})
