/**
 * One tenant's query cache in this process (docs/cache.md): the entries (./store.ts), what
 * the catalog says about statements (./catalog.ts) and the invalidation channel shared with
 * every other gateway process on the database (./channel.ts). The engine asks it three
 * things: may this read be answered from memory, keep this answer, and this write ran
 * (resolving once every process applied it).
 */
import { serializeValue } from '../../src/codecs/serialize.js'
import type { WireParam } from '../../src/protocol.js'
import type { CacheConfig } from '../config/schema.js'
import { Catalog, type CatalogQuery, type Plan, type WriteEffect } from './catalog.js'
import { Channel, type ChannelOptions } from './channel.js'
import type { RejectedMessages } from './inbox.js'
import type { Message } from './messages.js'
import { loadParser } from './sql-facts.js'
import { EntryStore, entryBytes, type Entry, type Stamp } from './store.js'

/** What a tenant cache needs from the gateway. */
export interface TenantCacheOptions {
  tenant: string
  config: CacheConfig
  /** Runs the catalog query on a pooled connection. */
  catalogQuery: CatalogQuery
  connect: ChannelOptions['connect']
  notifyElsewhere: ChannelOptions['notifyElsewhere']
  warn: ChannelOptions['warn']
  /** Signs and checks the channel's messages (the key every process on the database shares). */
  signer: ChannelOptions['signer']
}

/** The counters of one tenant's cache, for /metrics and the admin API. */
export interface CacheStats {
  hits: number
  stale: number
  misses: number
  bypasses: number
  /** Entries evicted to stay within maxBytes. */
  evictions: number
  /** Invalidations applied, by cause: tables written, everything, a tag. */
  invalidations: { tables: number; all: number; tag: number }
  /** Entries dropped by invalidations. */
  dropped: number
  entries: number
  bytes: number
  /** 1 while hits may be served (the channel is up and its lease fresh). */
  live: boolean
  /** Channel messages ignored: not signed with our key, or an old tick sent again. */
  rejected: RejectedMessages
}

/** A fill in progress, that requests for the same key wait for. */
interface Fill {
  stamp: Stamp
  promise: Promise<string>
}

const SWEEP_MS = 10_000

/** One tenant's cache. */
export class TenantCache {
  readonly tenant: string
  readonly config: CacheConfig
  readonly catalog: Catalog
  private readonly store: EntryStore
  private readonly channel: Channel
  private readonly fills = new Map<string, Fill>()
  private readonly refreshing = new Set<string>()
  private readonly counts = {
    hits: 0,
    stale: 0,
    misses: 0,
    bypasses: 0,
    invalidations: { tables: 0, all: 0, tag: 0 },
    dropped: 0,
  }
  private sweeper: ReturnType<typeof setInterval> | undefined
  private closed = false

  constructor(options: TenantCacheOptions) {
    this.tenant = options.tenant
    this.config = options.config
    this.store = new EntryStore(options.config.maxBytes)
    this.catalog = new Catalog(options.catalogQuery)
    this.channel = new Channel({
      connect: options.connect,
      notifyElsewhere: options.notifyElsewhere,
      warn: options.warn,
      signer: options.signer,
      apply: (message) => this.apply(message),
      // Notifications may have been missed, DDL's included.
      gap: () => this.dropAll(true),
    })
  }

  /** Loads the SQL parser and joins the invalidation channel. */
  async start(): Promise<void> {
    await loadParser()
    this.sweeper ??= setInterval(() => this.store.sweep(performance.now()), SWEEP_MS)
    this.sweeper.unref?.()
    await this.channel.start()
  }

  /** Leaves the channel; the cache answers nothing from memory any more. */
  async close(): Promise<void> {
    this.closed = true
    clearInterval(this.sweeper)
    this.dropAll(false)
    await this.channel.close()
  }

  /** Hits may be served now. */
  get live(): boolean {
    return !this.closed && this.channel.live
  }

  /**
   * The key of a read: the role, the text, the parameters as PostgreSQL receives them, and
   * the tags asked for, so that a purge by tag drops every answer read under that tag
   * whoever else reads the same statement without it.
   */
  key(
    role: string,
    sql: string,
    params: readonly WireParam[] | undefined,
    tags: readonly string[] = [],
  ): string {
    let key = `${role}\u0000${sql}`
    for (const p of params ?? []) {
      const text = serializeValue(p)
      key += text === null ? '\u0000n' : `\u0000v${text}`
    }
    // Tags hold neither a space nor a NUL (CACHE_TAG_PATTERN).
    if (tags.length > 0) key += `\u0000t${[...tags].sort().join(' ')}`
    return key
  }

  /**
   * A servable entry of `key` for a read that accepts answers up to `ttlMs` old (`hit`), or
   * `ttlMs + swrMs` old (`stale`): each read's own lifetimes, whatever the read that filled
   * the entry asked for.
   */
  lookup(
    key: string,
    ask: { ttlMs: number; swrMs: number },
  ): { entry: Entry; status: 'hit' | 'stale' } | undefined {
    const now = performance.now()
    const entry = this.store.get(key, now)
    if (!entry) return undefined
    const age = now - entry.filledAt
    if (age <= ask.ttlMs) return { entry, status: 'hit' }
    if (age <= ask.ttlMs + ask.swrMs) return { entry, status: 'stale' }
    return undefined
  }

  /** Counts an answer (for the metrics). */
  count(status: 'hit' | 'stale' | 'miss' | 'bypass'): void {
    if (status === 'hit') this.counts.hits++
    else if (status === 'stale') this.counts.stale++
    else if (status === 'miss') this.counts.misses++
    else this.counts.bypasses++
  }

  /**
   * Fills `key` by running `run`, unless a fill of it that is still current runs already:
   * then its answer is shared, for at most `wait.ms` (the waiter's own statement timeout:
   * the read it shares may allow itself longer), after which it fails with
   * `wait.expired()`. The answer is kept if nothing it read was invalidated meanwhile.
   * `stamp` must be taken before `run` reads anything.
   */
  fill(
    key: string,
    read: { tables: readonly number[]; tags: readonly string[]; ttlMs: number; swrMs: number },
    run: () => Promise<string>,
    wait?: { ms: number; expired: () => Error },
  ): Promise<string> {
    const running = this.fills.get(key)
    if (!running || !this.store.current(running.stamp)) return this.startFill(key, read, run)
    // A fill that failed (its client went away, say) leaves each waiter to read for itself.
    const shared = running.promise.catch(() => this.startFill(key, read, run))
    if (wait === undefined) return shared
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(wait.expired()), wait.ms)
      shared.then(resolve, reject).finally(() => clearTimeout(timer))
    })
  }

  private startFill(
    key: string,
    read: { tables: readonly number[]; tags: readonly string[]; ttlMs: number; swrMs: number },
    run: () => Promise<string>,
  ): Promise<string> {
    const stamp = this.store.stamp(read.tables, read.tags)
    const promise = run().then((body) => {
      const bytes = entryBytes(body, key, read.tables, read.tags)
      if (!this.closed && bytes <= this.config.maxEntryBytes) {
        const now = performance.now()
        this.store.set(
          {
            key,
            body,
            tables: read.tables,
            tags: read.tags,
            filledAt: now,
            staleUntil: now + read.ttlMs + read.swrMs,
            bytes,
          },
          stamp,
        )
      }
      return body
    })
    const fill = { stamp, promise }
    this.fills.set(key, fill)
    const forget = () => {
      if (this.fills.get(key) === fill) this.fills.delete(key)
    }
    promise.then(forget, forget)
    return promise
  }

  /** Runs `refresh` for a stale `key` unless one runs already; its failure is ignored. */
  refresh(key: string, refresh: () => Promise<unknown>): void {
    if (this.refreshing.has(key) || this.closed) return
    this.refreshing.add(key)
    refresh()
      .catch(() => {})
      .finally(() => this.refreshing.delete(key))
  }

  /** What running `sqls` may change, when every plan is known already; else undefined. */
  knownEffect(sqls: Iterable<string>): WriteEffect | undefined {
    let tables: number[] | undefined
    for (const sql of sqls) {
      const plan = this.catalog.known(sql)
      if (!plan) return undefined
      if (plan.write.kind === 'all') return plan.write
      if (plan.write.kind === 'tables') tables = (tables ?? []).concat(plan.write.keys)
    }
    return tables === undefined ? { kind: 'none' } : { kind: 'tables', keys: [...new Set(tables)] }
  }

  /** What running `sqls` may change (the catalog is asked once per name, then remembered). */
  async effect(sqls: readonly string[]): Promise<WriteEffect> {
    let tables: number[] = []
    for (const sql of sqls) {
      let plan: Plan
      try {
        plan = this.catalog.known(sql) ?? (await this.catalog.plan(sql))
      } catch {
        return { kind: 'all', why: 'the catalog could not be read', schema: false }
      }
      if (plan.write.kind === 'all') return plan.write
      if (plan.write.kind === 'tables') tables = tables.concat(plan.write.keys)
    }
    return tables.length === 0 ? { kind: 'none' } : { kind: 'tables', keys: [...new Set(tables)] }
  }

  /**
   * A write ran (or may have): drops what it may have changed here, then tells every other
   * process, and resolves once each applied it or lost its lease (./channel.ts).
   */
  async written(effect: WriteEffect): Promise<void> {
    if (effect.kind === 'none') return
    if (effect.kind === 'all') {
      this.dropAll(effect.schema)
      this.counts.invalidations.all++
    } else {
      this.counts.dropped += this.store.dropTables(effect.keys)
      this.counts.invalidations.tables++
    }
    await this.channel.publish(
      effect.kind === 'all'
        ? { type: 'all', schema: effect.schema }
        : { type: 'tables', tables: effect.keys },
    )
  }

  /** The operator's purge, of everything or of one tag, here and in every other process. */
  async purge(tag?: string): Promise<number> {
    const dropped = tag === undefined ? this.dropAll(false) : this.dropTag(tag)
    if (tag === undefined) this.counts.invalidations.all++
    await this.channel.publish({ type: 'purge', tenant: this.tenant, tag })
    return dropped
  }

  /** The counters, for metrics and the admin API. */
  stats(): CacheStats {
    return {
      ...this.counts,
      invalidations: { ...this.counts.invalidations },
      evictions: this.store.evictions,
      entries: this.store.size,
      bytes: this.store.bytes,
      live: this.live,
      rejected: { ...this.channel.rejected },
    }
  }

  /** A message from another process or from the triggers. */
  private apply(message: Message): void {
    switch (message.type) {
      case 'tables':
        this.counts.dropped += this.store.dropTables(message.tables)
        this.counts.invalidations.tables++
        break
      case 'table':
        this.counts.dropped += this.store.dropTables([message.table])
        this.counts.invalidations.tables++
        break
      case 'all':
        this.dropAll(message.schema)
        this.counts.invalidations.all++
        break
      case 'ddl':
        this.dropAll(true)
        this.counts.invalidations.all++
        break
      case 'purge':
        if (message.tenant !== this.tenant) break
        if (message.tag !== undefined) this.dropTag(message.tag)
        else {
          this.dropAll(false)
          this.counts.invalidations.all++
        }
        break
      default:
        break
    }
  }

  private dropAll(schema: boolean): number {
    if (schema) this.catalog.flush()
    const dropped = this.store.clear()
    this.counts.dropped += dropped
    return dropped
  }

  private dropTag(tag: string): number {
    const dropped = this.store.dropTag(tag)
    this.counts.dropped += dropped
    this.counts.invalidations.tag++
    return dropped
  }
}
