/**
 * A tenant's view of its database's catalog, for the cache: what each name a statement
 * uses is (./catalog-query.ts asks, one round trip for the names not known yet), and from
 * that a statement's {@link Plan}: whether its result may be cached and which tables it
 * reads, and which tables running it may change. Every answer errs on the safe side: a read
 * Sluice cannot prove plain is not cached; a write whose reach it cannot prove empties the
 * cache. What was learnt is forgotten after {@link CATALOG_TTL_MS}, and at once when a
 * schema may have changed (DDL through Sluice, or the event trigger of
 * `sluice cache install-triggers`).
 */
import {
  CATALOG_SQL,
  type CatalogAnswer,
  type RelationRow,
  type RoutineRow,
} from './catalog-query.js'
import { harmlessVolatile, readBlock, routineReadBlock } from './volatility.js'
import {
  MAX_PARSED_BYTES,
  sqlFacts,
  type RelationName,
  type RoutineName,
  type SqlFacts,
} from './sql-facts.js'

/** How long catalog answers are trusted when nothing says the schema changed. */
export const CATALOG_TTL_MS = 60_000

/** Names and statement texts kept, at most (then everything is forgotten and asked again). */
const KEPT = 20_000
const KEPT_CHARS = 4 * 1024 * 1024

/** What running a statement may change. */
export type WriteEffect =
  | { kind: 'none' }
  /** Rows of these tables (partition tree roots, by oid). */
  | { kind: 'tables'; keys: number[] }
  /** Anything: the whole cache goes. `schema`: the catalog may have changed too. */
  | { kind: 'all'; why: string; schema: boolean }

/** A statement, as the cache treats it. */
export interface Plan {
  /** A cacheable read and the tables (keys) its result depends on; or why it is not one. */
  read: { keys: number[] } | { why: string }
  write: WriteEffect
}

/** Runs the catalog query and answers its one text value. */
export type CatalogQuery = (sql: string, params: unknown[]) => Promise<string>

/** The SQL text `to_regclass` reads for a name (quoted, so any name reads as itself). */
function regclassText(name: RelationName): string {
  const quote = (part: string) => `"${part.replace(/"/g, '""')}"`
  return name.schema === undefined ? quote(name.name) : `${quote(name.schema)}.${quote(name.name)}`
}

function routineKey(name: RoutineName): string {
  return name.schema === undefined ? name.name : `${name.schema}.${name.name}`
}

/** The facts a view's definition adds to a statement that reads it. */
interface ViewFacts {
  functions: RoutineName[]
  casts: string[]
  /** Why reading the view depends on the moment, or undefined. */
  moment: string | undefined
  /** The definition could not be read. */
  unknown: string | undefined
}

/** What is known of one tenant's catalog. */
export class Catalog {
  private readonly relationsByName = new Map<string, number | null>()
  private readonly relations = new Map<number, RelationRow>()
  private readonly views = new Map<number, ViewFacts>()
  private readonly functions = new Map<string, RoutineRow[]>()
  private readonly operators = new Map<string, RoutineRow[]>()
  private readonly casts = new Map<string, RoutineRow[]>()
  private readonly plans = new Map<string, Plan>()
  private filledAt = Date.now()
  private planChars = 0
  /** Bumped by {@link flush}, so an answer to a question asked before is dropped. */
  private generation = 0

  constructor(
    private readonly query: CatalogQuery,
    private readonly ttlMs = CATALOG_TTL_MS,
  ) {}

  /** Forgets everything (the schema may have changed). */
  flush(): void {
    this.generation++
    this.relationsByName.clear()
    this.relations.clear()
    this.views.clear()
    this.functions.clear()
    this.operators.clear()
    this.casts.clear()
    this.plans.clear()
    this.planChars = 0
    this.filledAt = Date.now()
  }

  /** The plan of `sql` when already known (no await on the hot path). */
  known(sql: string): Plan | undefined {
    if (Date.now() - this.filledAt > this.ttlMs) this.flush()
    return this.plans.get(sql)
  }

  /** The plan of `sql`, asking the database about the names not known yet. */
  async plan(sql: string): Promise<Plan> {
    const known = this.known(sql)
    if (known) return known
    const facts = sqlFacts(sql)
    const generation = this.generation
    if (facts.kind === 'read' || facts.kind === 'write') await this.learn(facts)
    const plan = this.planOf(facts)
    // Texts too long to parse have the same plan every time: not worth keeping.
    if (generation === this.generation && sql.length <= MAX_PARSED_BYTES) {
      if (this.plans.size >= KEPT || this.planChars + sql.length > KEPT_CHARS) {
        this.plans.clear()
        this.planChars = 0
      }
      this.plans.set(sql, plan)
      this.planChars += sql.length
    }
    return plan
  }

  // ---- learning names ----

  private async learn(facts: NamesOf): Promise<void> {
    // Views bring names of their own; a few rounds reach the bottom of any sane nesting.
    for (let round = 0; round < 4; round++) {
      const relations = [
        ...new Set(facts.relations.map(regclassText).filter((n) => !this.relationsByName.has(n))),
      ]
      const viewFacts = [...this.viewsReached(facts)].map((oid) => this.views.get(oid)!)
      const functionNames = new Set<string>()
      const castNames = new Set<string>()
      for (const source of [facts, ...viewFacts]) {
        for (const f of source.functions) if (!this.functions.has(f.name)) functionNames.add(f.name)
        for (const c of source.casts) if (!this.casts.has(c)) castNames.add(c)
      }
      const operators = [...new Set(facts.operators.map((o) => o.name))].filter(
        (o) => !this.operators.has(o),
      )
      if (relations.length + functionNames.size + castNames.size + operators.length === 0) return
      const generation = this.generation
      const answer = JSON.parse(
        await this.query(CATALOG_SQL, [relations, [...functionNames], operators, [...castNames]]),
      ) as CatalogAnswer
      if (generation !== this.generation) return
      this.store(answer, relations, [...functionNames], operators, [...castNames])
    }
  }

  private store(
    answer: CatalogAnswer,
    relations: string[],
    functions: string[],
    operators: string[],
    casts: string[],
  ): void {
    // Names are few in a real schema; a flood of made-up ones is forgotten wholesale.
    const names =
      this.relationsByName.size + this.functions.size + this.operators.size + this.casts.size
    if (names > KEPT) this.flush()
    for (const name of relations) this.relationsByName.set(name, null)
    for (const { name, oid } of answer.named) this.relationsByName.set(name, oid)
    for (const row of answer.relations) {
      this.relations.set(row.oid, row)
      if (row.definition !== null && !this.views.has(row.oid))
        this.views.set(row.oid, viewFacts(row.definition))
    }
    const group = (target: Map<string, RoutineRow[]>, names: string[], rows: RoutineRow[]) => {
      for (const name of names) target.set(name, [])
      for (const row of rows) target.get(row.name)?.push(row)
    }
    group(this.functions, functions, answer.functions)
    group(this.operators, operators, answer.operators)
    group(this.casts, casts, answer.casts)
  }

  /** Oids of the views a statement reads, at any depth (as far as known). */
  private viewsReached(facts: NamesOf): Set<number> {
    const found = new Set<number>()
    const visit = (oid: number) => {
      const row = this.relations.get(oid)
      if (!row || found.has(oid) || row.kind !== 'v') return
      found.add(oid)
      for (const used of row.uses) visit(used)
    }
    for (const name of facts.relations) {
      const oid = this.relationsByName.get(regclassText(name))
      if (oid !== undefined && oid !== null) visit(oid)
    }
    for (const oid of [...found]) if (!this.views.has(oid)) found.delete(oid)
    return found
  }

  // ---- from facts and names to a plan ----

  private planOf(facts: SqlFacts): Plan {
    if (facts.kind === 'unknown') {
      return { read: { why: facts.why }, write: { kind: 'all', why: facts.why, schema: true } }
    }
    if (facts.kind === 'none')
      return { read: { why: 'it is not a query' }, write: { kind: 'none' } }

    const readKeys = new Set<number>()
    let readWhy: string | undefined = facts.kind === 'write' ? 'it writes' : facts.moment
    let writeWhy: string | undefined
    const ctes = new Set(facts.ctes)

    // Relations read, through views.
    const functions: RoutineName[] = [...facts.functions]
    const casts: string[] = [...facts.casts]
    const seen = new Set<number>()
    const read = (oid: number): void => {
      if (seen.has(oid)) return
      seen.add(oid)
      const row = this.relations.get(oid)
      if (!row) {
        readWhy ??= 'a relation it reads changed while Sluice looked'
        return
      }
      readWhy ??= readBlock(row)
      for (const routine of row.routines) {
        readWhy ??= routineReadBlock(routine)
        if (routine.volatility === 'v' && !harmlessVolatile(routine))
          writeWhy ??= `it calls the volatile function ${routine.schema}.${routine.name}()`
      }
      if (row.kind === 'v') {
        const view = this.views.get(oid)
        if (!view || view.unknown !== undefined) {
          readWhy ??= `the definition of view ${row.schema}.${row.name} could not be read`
          writeWhy ??= readWhy
        } else {
          readWhy ??= view.moment
          functions.push(...view.functions)
          casts.push(...view.casts)
        }
        for (const used of row.uses) read(used)
      } else readKeys.add(row.key)
    }
    for (const name of facts.relations) {
      const oid = this.relationsByName.get(regclassText(name))
      if (oid === undefined || oid === null) {
        // An unqualified name that matches a CTE is the CTE.
        if (name.schema === undefined && ctes.has(name.name)) continue
        readWhy ??= `relation ${name.name} does not exist`
        continue
      }
      read(oid)
    }

    for (const name of functions) {
      const rows = (this.functions.get(name.name) ?? []).filter(
        (row) => name.schema === undefined || row.schema === name.schema,
      )
      if (rows.length === 0) readWhy ??= `function ${routineKey(name)}() is unknown`
      for (const row of rows) {
        readWhy ??= routineReadBlock(row)
        if (row.volatility === 'v' && !harmlessVolatile(row))
          writeWhy ??= `it calls the volatile function ${row.schema}.${row.name}()`
      }
    }
    for (const operator of facts.operators) {
      for (const row of this.operators.get(operator.name) ?? []) {
        // Built-in operators depend on settings at most (the time zone), which the key holds.
        if (row.schema === 'pg_catalog') continue
        if (row.volatility !== 'i')
          readWhy ??= `the operator ${row.schema}.${row.name} is not immutable`
        if (row.volatility === 'v')
          writeWhy ??= `it calls the volatile operator ${row.schema}.${row.name}`
      }
    }
    for (const cast of casts) {
      for (const row of this.casts.get(cast) ?? []) {
        if (row.volatility !== 'i') readWhy ??= `a cast to ${cast} is not immutable`
        if (row.volatility === 'v') writeWhy ??= `a cast to ${cast} is volatile`
      }
    }

    const readPlan =
      readWhy === undefined ? { keys: [...readKeys].sort((a, b) => a - b) } : { why: readWhy }
    if (writeWhy !== undefined)
      return { read: readPlan, write: { kind: 'all', why: writeWhy, schema: false } }
    if (facts.kind === 'read') return { read: readPlan, write: { kind: 'none' } }
    return { read: readPlan, write: this.writeEffect(facts.writes) }
  }

  /** The tables that writing `targets` may change, through views, partitions and cascades. */
  private writeEffect(targets: RelationName[]): WriteEffect {
    const keys = new Set<number>()
    const seen = new Set<number>()
    let why: string | undefined
    const write = (oid: number): void => {
      if (seen.has(oid)) return
      seen.add(oid)
      const row = this.relations.get(oid)
      if (!row) {
        why ??= 'a relation it writes changed while Sluice looked'
        return
      }
      const name = `${row.schema}.${row.name}`
      if (row.triggers) why ??= `${name} has triggers, which may write anywhere`
      if (row.rules) why ??= `${name} has rules, which may write anywhere`
      if (row.inherits) why ??= `${name} takes part in table inheritance`
      if (row.kind === 'v') for (const used of row.uses) write(used)
      else keys.add(row.key)
      for (const referencing of row.cascades) write(referencing)
    }
    for (const name of targets) {
      const oid = this.relationsByName.get(regclassText(name))
      if (oid === undefined || oid === null) {
        why ??= `relation ${name.name} did not exist when Sluice looked`
        continue
      }
      write(oid)
    }
    return why === undefined
      ? { kind: 'tables', keys: [...keys].sort((a, b) => a - b) }
      : { kind: 'all', why, schema: false }
  }
}

type NamesOf = Extract<SqlFacts, { kind: 'read' | 'write' }>

/** What a view's definition calls, read by the same parser as statements. */
function viewFacts(definition: string): ViewFacts {
  const facts = sqlFacts(definition)
  if (facts.kind !== 'read') {
    return {
      functions: [],
      casts: [],
      moment: undefined,
      unknown: facts.kind === 'unknown' ? facts.why : 'not a query',
    }
  }
  return {
    functions: facts.functions,
    casts: facts.casts,
    moment: facts.moment,
    unknown: undefined,
  }
}
