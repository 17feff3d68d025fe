import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, it } from 'vitest'
import { EntryStore, MAX_VERSIONS, entryBytes, type Entry } from '../../../server/cache/store.js'

function entry(key: string, tables: number[], tags: string[] = []): Entry {
  const body = `{"rows":[["${key}"]]}`
  return {
    key,
    body,
    tables,
    tags,
    filledAt: 0,
    staleUntil: 1e12,
    bytes: entryBytes(body, key, tables, tags),
  }
}

/** The heap in use after a full collection. */
function heapUsed(): number {
  setFlagsFromString('--expose-gc')
  ;(runInNewContext('gc') as () => void)()
  return process.memoryUsage().heapUsed
}

describe('the entry store', () => {
  it('holds its entries within maxBytes of heap, tags counted, when every entry has 16 tags of its own', () => {
    const maxBytes = 8 * 1024 * 1024
    const before = heapUsed()
    const store = new EntryStore(maxBytes)
    // Two budgets' worth as a hostile client would send them: small answers, 16 made-up
    // tags of 64 characters each.
    for (let i = 0; store.evictions < Math.max(store.size, 1) || i < 1000; i++) {
      const key = `readonly\u0000select ${i}`
      const body = `{"command":"SELECT","rowCount":1,"fields":[],"rows":[["${i}"]]}`
      const tags = Array.from({ length: 16 }, (_, t) => `${i}-${t}-`.padEnd(64, 'x'))
      const tables = [16384, 16385]
      const e = { key, body, tables, tags, filledAt: 0, staleUntil: 1e12 }
      store.set({ ...e, bytes: entryBytes(body, key, tables, tags) }, store.stamp(tables, tags))
    }
    const held = heapUsed() - before
    expect(store.bytes).toBeLessThanOrEqual(maxBytes)
    expect(held).toBeLessThan(1.5 * maxBytes)
  })

  it('keeps at most MAX_VERSIONS versions when made-up tables and tags are invalidated (anyone may NOTIFY t OID)', () => {
    const store = new EntryStore(1024 * 1024)
    store.set(entry('kept', [1], ['plans']), store.stamp([1], ['plans']))
    for (let oid = 1_000; oid < 1_000 + 2 * MAX_VERSIONS + 7; oid++) store.dropTables([oid])
    for (let n = 0; n < MAX_VERSIONS + 3; n++) store.dropTag(`tag${n}`)
    expect(store.versioned).toBeLessThanOrEqual(MAX_VERSIONS)
    // The entries themselves stay: only their own tables and tags drop them.
    expect(store.get('kept', 0)?.body).toBe('{"rows":[["kept"]]}')
  })

  it('never keeps a fill whose table was invalidated meanwhile, across a reset of the versions', () => {
    const store = new EntryStore(1024 * 1024)
    const before = store.stamp([5], [])
    store.dropTables([5])
    for (let oid = 1_000; oid < 1_000 + MAX_VERSIONS + 1; oid++) store.dropTables([oid])
    expect(store.set(entry('late', [5]), before)).toBe(false)
    const during = store.stamp([6], [])
    for (let oid = 1_000_000; oid < 1_000_000 + MAX_VERSIONS + 1; oid++) store.dropTables([oid])
    store.dropTables([6])
    expect(store.set(entry('late', [6]), during)).toBe(false)
    expect(store.set(entry('fresh', [6]), store.stamp([6], []))).toBe(true)
  })
})
