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

/** What a member publishes about its own writes and purges. */
export type Outgoing =
  | { type: 'tables'; tables: readonly number[] }
  | { type: 'all'; schema: boolean }
  | { type: 'purge'; tenant: string; tag: string | undefined }

/**
 * The payloads of a batch sent together: ready ones as they are, and the member's own
 * messages. Concurrent writes' invalidations go out as one notification (their tables
 * together, under the highest sequence number: an ack of it acks them all), unless a purge is
 * among them, which keeps every message in sequence order.
 */
export function encodeOutgoing(
  id: string,
  batch: readonly { payload?: string | undefined; message?: Outgoing | undefined; seq: number }[],
): string[] {
  const ready = batch.flatMap((item) => (item.payload === undefined ? [] : [item.payload]))
  const own = batch.flatMap((item) =>
    item.message === undefined ? [] : [{ message: item.message, seq: item.seq }],
  )
  const encode = ({ message, seq }: { message: Outgoing; seq: number }): string =>
    message.type === 'purge'
      ? `p ${id} ${seq} ${message.tenant}${message.tag === undefined ? '' : ` ${message.tag}`}`
      : `i ${id} ${seq} ${message.type === 'tables' ? tablesWord(message.tables) : tablesWord(message.schema ? 'schema' : 'all')}`
  if (own.length <= 1 || own.some((item) => item.message.type === 'purge'))
    return [...ready, ...own.map(encode)]
  let all = false
  let schema = false
  const tables = new Set<number>()
  for (const { message } of own) {
    if (message.type === 'all') {
      all = true
      schema ||= message.schema
    } else if (message.type === 'tables') for (const table of message.tables) tables.add(table)
  }
  const seq = Math.max(...own.map((item) => item.seq))
  const merged: Outgoing = all ? { type: 'all', schema } : { type: 'tables', tables: [...tables] }
  return [...ready, encode({ message: merged, seq })]
}
