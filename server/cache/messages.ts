/**
 * The messages of the invalidation channel, as NOTIFY payloads on {@link CHANNEL}: plain
 * ASCII words, so the triggers of `sluice cache install-triggers` can write theirs in SQL.
 * A Sluice process's own messages end with a signature (`MAC`, ./signature.ts): the other
 * processes act on them only when it checks out. The triggers' messages are not signed (the
 * key would have to live in the database) and only ever drop entries, which is safe to take
 * from anyone. Anything else that arrives on the channel is ignored.
 *
 * | payload                              | meaning                                                     |
 * | ------------------------------------ | ----------------------------------------------------------- |
 * | `h ID N MAC`                         | member ID joined (or rejoined after a gap); N is its tick   |
 * | `k ID N MAC`                         | member ID's tick N (its lease, and proof it is alive)       |
 * | `b ID MAC`                           | member ID leaves (for good: ids are never reused)           |
 * | `i ID SEQ 16384,16390 MAC`           | ID wrote these tables (partition roots, by oid)             |
 * | `i ID SEQ * MAC` / `i ID SEQ # MAC`  | ID may have changed any data / the schema too               |
 * | `p ID SEQ TENANT [TAG] MAC`          | the operator purged TENANT's cache (or one of its tags)     |
 * | `a ID ORIGIN:SEQ[,ORIGIN:SEQ…] MAC`  | ID applied everything up to SEQ of each ORIGIN              |
 * | `t OID`                              | a trigger saw a write to table OID (root of its partitions) |
 * | `d`                                  | the event trigger saw DDL                                   |
 *
 * Why a replayed genuine message (anyone can LISTEN, and NOTIFY what it heard again) is
 * harmless: ticks (`h`, `k`) are taken only when newer than the last of their member
 * (./inbox.ts), and a tick only ever makes writes wait longer; `i` and `p` drop entries
 * again and are acked again at a sequence already acked; `a` counts only up to the highest
 * sequence acked, which a replay repeats; a `b` follows its member's end (it answers from
 * memory no more), so not waiting for that member is right whenever the `b` arrives.
 */

/** The NOTIFY channel (one per database: every tenant on it shares it). */
export const CHANNEL = 'sluice_cache'

/** Payloads stop at 8000 bytes in PostgreSQL; table lists longer than this become `*`. */
export const MAX_PAYLOAD = 7900

/** A message of a member (a Sluice process's cache), decoded from its signed words. */
export type MemberMessage =
  | { type: 'hello' | 'tick'; from: string; tick: number }
  | { type: 'bye'; from: string }
  | { type: 'tables'; from: string; seq: number; tables: number[] }
  | { type: 'all'; from: string; seq: number; schema: boolean }
  | { type: 'purge'; from: string; seq: number; tenant: string; tag: string | undefined }
  | { type: 'ack'; from: string; acks: Map<string, number> }

/** A message of the triggers: unsigned, and it can only drop entries. */
export type TriggerMessage = { type: 'table'; table: number } | { type: 'ddl' }

/** A decoded message. */
export type Message = MemberMessage | TriggerMessage

const ID = /^[a-z0-9]{1,32}$/
const NUMBER = /^[0-9]{1,15}$/

/** Reads a trigger's payload; undefined when it is not one. */
export function decodeTrigger(payload: string): TriggerMessage | undefined {
  if (payload === 'd') return { type: 'ddl' }
  const [type, table, ...rest] = payload.split(' ')
  return type === 't' && rest.length === 0 && table !== undefined && NUMBER.test(table)
    ? { type: 'table', table: Number(table) }
    : undefined
}

/** Reads a member message's words (its signature taken off); undefined when it is not one. */
export function decodeMember(body: string): MemberMessage | undefined {
  const words = body.split(' ')
  const [type, from = '', a = '', b = '', c] = words
  if (!ID.test(from)) return undefined
  switch (type) {
    case 'h':
    case 'k':
      return words.length === 3 && NUMBER.test(a)
        ? { type: type === 'h' ? 'hello' : 'tick', from, tick: Number(a) }
        : undefined
    case 'b':
      return words.length === 2 ? { type: 'bye', from } : undefined
    case 'i': {
      if (words.length !== 4 || !NUMBER.test(a)) return undefined
      const seq = Number(a)
      if (b === '*' || b === '#') return { type: 'all', from, seq, schema: b === '#' }
      const tables = b.split(',')
      if (!tables.every((t) => NUMBER.test(t))) return undefined
      return { type: 'tables', from, seq, tables: tables.map(Number) }
    }
    case 'p':
      return (words.length === 4 || words.length === 5) && NUMBER.test(a) && b !== ''
        ? { type: 'purge', from, seq: Number(a), tenant: b, tag: c }
        : undefined
    case 'a': {
      if (words.length !== 3) return undefined
      const acks = new Map<string, number>()
      for (const pair of a.split(',')) {
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

/**
 * What an unverifiable payload claims to be: a member message signed with a key we do not
 * hold, or not signed at all. Only to tell another Sluice process's messages from noise,
 * and to drop what it says it wrote.
 */
export function decodeUnverified(payload: string): MemberMessage | undefined {
  const space = payload.lastIndexOf(' ')
  return (space > 0 ? decodeMember(payload.slice(0, space)) : undefined) ?? decodeMember(payload)
}

/** What a write changed, as the `i` message's last word. */
export function tablesWord(tables: readonly number[] | 'all' | 'schema'): string {
  if (tables === 'all') return '*'
  if (tables === 'schema') return '#'
  const word = tables.join(',')
  // Room for the other words and the signature.
  return word.length > MAX_PAYLOAD - 96 ? '*' : word
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
