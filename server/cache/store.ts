/**
 * The entries of one tenant's cache: answers kept as the JSON bytes sent, within a memory
 * budget (least recently used evicted first), indexed by the tables they read and by their
 * tags so a write or a purge drops exactly those. Every table and tag also has a version,
 * bumped by each invalidation: a fill remembers the versions it started with (a
 * {@link Stamp}) and is kept only if none moved meanwhile, so an answer read before a
 * write can never be stored after that write's invalidation.
 */

/** One cached answer. */
export interface Entry {
  readonly key: string
  /**
   * The response body, as sent: a string, which Node's http writes in one piece with the
   * headers (a Buffer would go out as a second chunk).
   */
  readonly body: string
  /** The tables (partition tree roots, by oid) its result depends on. */
  readonly tables: readonly number[]
  readonly tags: readonly string[]
  /** When it was read from the database (performance.now() milliseconds). */
  readonly filledAt: number
  /**
   * Kept until then: the lifetimes (ttlMs + swrMs) of the read that filled it. Each read
   * decides for itself whether the entry is fresh enough (TenantCache.lookup).
   */
  readonly staleUntil: number
  /** Counted against the budget: body, key and bookkeeping. */
  readonly bytes: number
}

/** The versions a fill started from. */
export interface Stamp {
  readonly epoch: number
  readonly versions: readonly number[]
  readonly tables: readonly number[]
  readonly tags: readonly string[]
}

/** What bookkeeping of one entry costs, roughly, besides its body and key. */
const ENTRY_OVERHEAD = 256
/** What one table an entry read costs it: its slot in the entry and in the table's index. */
const TABLE_OVERHEAD = 64
/** What one tag costs besides its characters, when no other entry has it (see entryBytes). */
const TAG_OVERHEAD = 384

/**
 * Versions of tables and tags kept at most. Anyone who can connect to the database may
 * notify `t OID` for any number (./messages.ts), each a table to bump: past this, the epoch
 * moves on and the versions start again, which costs the fills in flight, not the entries.
 */
export const MAX_VERSIONS = 50_000

/** Entries within a byte budget, indexed for invalidation. */
export class EntryStore {
  private readonly entries = new Map<string, Entry>()
  private readonly byTable = new Map<number, Set<Entry>>()
  private readonly byTag = new Map<string, Set<Entry>>()
  private readonly versions = new Map<number | string, number>()
  /** Bumped when everything goes: every stamp taken before is stale. */
  private epoch = 0
  bytes = 0
  evictions = 0

  constructor(private readonly maxBytes: number) {}

  get size(): number {
    return this.entries.size
  }

  /** Tables and tags whose version is kept (at most {@link MAX_VERSIONS}). */
  get versioned(): number {
    return this.versions.size
  }

  /** The entry of `key` (made the most recently used), or undefined once past its stale time. */
  get(key: string, now: number): Entry | undefined {
    const entry = this.entries.get(key)
    if (!entry) return undefined
    if (now > entry.staleUntil) {
      this.remove(entry)
      return undefined
    }
    // Most recently used last: a Map keeps insertion order.
    this.entries.delete(key)
    this.entries.set(key, entry)
    return entry
  }

  /** The versions of `tables` and `tags` now. */
  stamp(tables: readonly number[], tags: readonly string[]): Stamp {
    const versions: number[] = []
    for (const table of tables) versions.push(this.versions.get(table) ?? 0)
    for (const tag of tags) versions.push(this.versions.get(tag) ?? 0)
    return { epoch: this.epoch, versions, tables, tags }
  }

  /** True when nothing `stamp` depends on was invalidated since it was taken. */
  current(stamp: Stamp): boolean {
    if (stamp.epoch !== this.epoch) return false
    let i = 0
    for (const table of stamp.tables)
      if ((this.versions.get(table) ?? 0) !== stamp.versions[i++]) return false
    for (const tag of stamp.tags)
      if ((this.versions.get(tag) ?? 0) !== stamp.versions[i++]) return false
    return true
  }

  /**
   * Keeps `entry` if `stamp` is still current and it fits; evicts the least recently used
   * to make room. Returns whether it was kept.
   */
  set(entry: Entry, stamp: Stamp): boolean {
    if (!this.current(stamp) || entry.bytes > this.maxBytes) return false
    const old = this.entries.get(entry.key)
    if (old) this.remove(old)
    while (this.bytes + entry.bytes > this.maxBytes) {
      const oldest = this.entries.values().next().value
      if (!oldest) break
      this.remove(oldest)
      this.evictions++
    }
    this.entries.set(entry.key, entry)
    this.bytes += entry.bytes
    for (const table of entry.tables) index(this.byTable, table, entry)
    for (const tag of entry.tags) index(this.byTag, tag, entry)
    return true
  }

  /** Drops the entries that read any of `tables`; returns how many. */
  dropTables(tables: Iterable<number>): number {
    let dropped = 0
    for (const table of tables) {
      this.bump(table)
      for (const entry of this.byTable.get(table) ?? []) {
        this.remove(entry)
        dropped++
      }
    }
    return dropped
  }

  /** Drops the entries tagged `tag`; returns how many. */
  dropTag(tag: string): number {
    this.bump(tag)
    let dropped = 0
    for (const entry of this.byTag.get(tag) ?? []) {
      this.remove(entry)
      dropped++
    }
    return dropped
  }

  /** Drops everything; returns how many entries. */
  clear(): number {
    const dropped = this.entries.size
    this.epoch++
    this.entries.clear()
    this.byTable.clear()
    this.byTag.clear()
    // The new epoch makes every stamp stale: older versions no longer matter.
    this.versions.clear()
    this.bytes = 0
    return dropped
  }

  /** Drops entries past their stale time. */
  sweep(now: number): void {
    for (const entry of [...this.entries.values()]) if (now > entry.staleUntil) this.remove(entry)
  }

  /** A table or tag was invalidated: every stamp taken before that names it is stale. */
  private bump(key: number | string): void {
    if (this.versions.size >= MAX_VERSIONS && !this.versions.has(key)) {
      // A new epoch makes every stamp stale, so the versions so far no longer matter.
      this.epoch++
      this.versions.clear()
    }
    this.versions.set(key, (this.versions.get(key) ?? 0) + 1)
  }

  private remove(entry: Entry): void {
    if (this.entries.get(entry.key) !== entry) return
    this.entries.delete(entry.key)
    this.bytes -= entry.bytes
    for (const table of entry.tables) unindex(this.byTable, table, entry)
    for (const tag of entry.tags) unindex(this.byTag, tag, entry)
  }
}

/**
 * The bytes an entry of this body, key, tables and tags is counted for (V8 keeps up to 2
 * bytes a character). A tag an entry alone has costs its index (a Set and its slot in the
 * map: about 440 bytes for one of 64 characters, measured), so a client that gives each
 * answer 16 tags of its own would otherwise hold many times maxBytes.
 */
export function entryBytes(
  body: string,
  key: string,
  tables: readonly number[],
  tags: readonly string[],
): number {
  let bytes = (body.length + key.length) * 2 + ENTRY_OVERHEAD + tables.length * TABLE_OVERHEAD
  for (const tag of tags) bytes += tag.length * 2 + TAG_OVERHEAD
  return bytes
}

function index<K>(map: Map<K, Set<Entry>>, key: K, entry: Entry): void {
  let set = map.get(key)
  if (!set) map.set(key, (set = new Set()))
  set.add(entry)
}

function unindex<K>(map: Map<K, Set<Entry>>, key: K, entry: Entry): void {
  const set = map.get(key)
  if (!set) return
  set.delete(entry)
  if (set.size === 0) map.delete(key)
}
