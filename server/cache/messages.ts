/**
 * The messages of the invalidation channel, as NOTIFY payloads on {@link CHANNEL}: plain
 * ASCII words, so the triggers of `sluice cache install-triggers` can write theirs in SQL.
 * Anything else that arrives on the channel is ignored.
 *
 * | payload                          | meaning                                                    |
 * | -------------------------------- | ---------------------------------------------------------- |
 * | `h ID N`                         | member ID joined (or rejoined after a gap); N is its tick  |
 * | `k ID N`                         | member ID's tick N (its lease, and proof it is alive)      |
 * | `b ID`                           | member ID leaves                                           |
 * | `i ID SEQ 16384,16390`           | ID wrote these tables (partition roots, by oid)            |
 * | `i ID SEQ *` / `i ID SEQ #`      | ID may have changed any data / the schema too              |
 * | `p ID SEQ TENANT [TAG]`          | the operator purged TENANT's cache (or one of its tags)    |
 * | `a ID ORIGIN:SEQ[,ORIGIN:SEQ…]`  | ID applied everything up to SEQ of each ORIGIN             |
 * | `t OID`                          | a trigger saw a write to table OID (root of its partitions) |
 * | `d`                              | the event trigger saw DDL                                  |
 */

/** The NOTIFY channel (one per database: every tenant on it shares it). */
export const CHANNEL = 'sluice_cache'

/** Payloads stop at 8000 bytes in PostgreSQL; table lists longer than this become `*`. */
export const MAX_PAYLOAD = 7900

/** A decoded message. */
export type Message =
  | { type: 'hello' | 'tick'; from: string; tick: number }
  | { type: 'bye'; from: string }
  | { type: 'tables'; from: string; seq: number; tables: number[] }
  | { type: 'all'; from: string; seq: number; schema: boolean }
  | { type: 'purge'; from: string; seq: number; tenant: string; tag: string | undefined }
  | { type: 'ack'; from: string; acks: Map<string, number> }
  | { type: 'table'; table: number }
  | { type: 'ddl' }

const ID = /^[a-z0-9]{1,32}$/
const NUMBER = /^[0-9]{1,15}$/

/** Reads a payload; undefined when it is not one of ours. */
export function decode(payload: string): Message | undefined {
  const words = payload.split(' ')
  const [type, from = '', a, b, c] = words
  if (type === 'd') return words.length === 1 ? { type: 'ddl' } : undefined
  if (type === 't') return NUMBER.test(from) ? { type: 'table', table: Number(from) } : undefined
  if (!ID.test(from)) return undefined
  switch (type) {
    case 'h':
    case 'k':
      return a !== undefined && NUMBER.test(a)
        ? { type: type === 'h' ? 'hello' : 'tick', from, tick: Number(a) }
        : undefined
    case 'b':
      return { type: 'bye', from }
    case 'i': {
      if (a === undefined || !NUMBER.test(a) || b === undefined) return undefined
      const seq = Number(a)
      if (b === '*' || b === '#') return { type: 'all', from, seq, schema: b === '#' }
      const tables = b.split(',')
      if (!tables.every((t) => NUMBER.test(t))) return undefined
      return { type: 'tables', from, seq, tables: tables.map(Number) }
    }
    case 'p':
      return a !== undefined && NUMBER.test(a) && b !== undefined
        ? { type: 'purge', from, seq: Number(a), tenant: b, tag: c }
        : undefined
    case 'a': {
      const acks = new Map<string, number>()
      for (const pair of (a ?? '').split(',')) {
        const [origin = '', seq = ''] = pair.split(':')
        if (!ID.test(origin) || !NUMBER.test(seq)) return undefined
        acks.set(origin, Number(seq))
      }
      return { type: 'ack', from, acks }
    }
    default:
      return undefined
  }
}

/** What a write changed, as the `i` message's last word. */
export function tablesWord(tables: readonly number[] | 'all' | 'schema'): string {
  if (tables === 'all') return '*'
  if (tables === 'schema') return '#'
  const word = tables.join(',')
  return word.length > MAX_PAYLOAD - 64 ? '*' : word
}
