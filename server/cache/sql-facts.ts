/**
 * What PostgreSQL's own parser (libpg-query) says about a statement's text, for the cache:
 * whether it is a plain read, which relations it reads and writes, which functions,
 * operators and casts it calls, and what makes its result depend on the moment it runs.
 * Names only: ./catalog.ts asks the database what they are. The parser costs about 1 µs a
 * byte and holds the event loop meanwhile, so texts over {@link MAX_PARSED_BYTES} are not
 * parsed (their answer is "unknown"), and every answer is kept per text.
 */
import { loadModule, parseSync } from 'libpg-query'

/** Texts longer than this are not parsed: a cached read cannot be one; a write empties the cache. */
export const MAX_PARSED_BYTES = 16 * 1024

/** A relation as the statement names it. */
export interface RelationName {
  schema: string | undefined
  name: string
}

/** A function or operator as the statement names it (`schema` only when qualified). */
export interface RoutineName {
  schema: string | undefined
  name: string
}

/** Names a statement uses, for the catalog to resolve. */
export interface NamesUsed {
  /** Every relation named (FROM, JOIN, targets of writes, subqueries, CTE bodies). */
  relations: RelationName[]
  /** CTE names: an unqualified relation of that name may be the CTE, not a table. */
  ctes: string[]
  functions: RoutineName[]
  operators: RoutineName[]
  /** Type names of explicit casts (`x::name`, `cast(x as name)`). */
  casts: string[]
}

/** What a statement's text is, as far as the cache cares. */
export type SqlFacts =
  | (NamesUsed & {
      /** Plain reads; or writes (INSERT, UPDATE, DELETE, MERGE, TRUNCATE, COPY FROM, also in CTEs). */
      kind: 'read' | 'write'
      /** Relations written. */
      writes: RelationName[]
      /**
       * Why the result depends on more than the data (the clock, chance, row locks), or
       * undefined. A read with a reason is never cached.
       */
      moment: string | undefined
    })
  /** Writes no data and reads nothing cacheable: SET, SHOW, EXPLAIN, LISTEN, a cursor's FETCH… */
  | { kind: 'none' }
  /** What a write did cannot be told from the text: DDL, DO, CALL, EXECUTE, too long, unparseable. */
  | { kind: 'unknown'; why: string }

/** Utility statements that change no table's data. */
const HARMLESS = new Set([
  'VariableShowStmt',
  'TransactionStmt',
  'ListenStmt',
  'UnlistenStmt',
  'NotifyStmt',
  'LockStmt',
  'PrepareStmt',
  'DeallocateStmt',
  'ClosePortalStmt',
  'FetchStmt',
  'DiscardStmt',
  'CheckPointStmt',
  'VacuumStmt',
])

/**
 * Settings by which PostgreSQL resolves the names of later statements (`"$user"` in the
 * search_path is the current role): after a change of one, a batch's, a transaction's or a
 * session's later statements may write other tables than the catalog, asked with the
 * role's own search_path, says.
 */
const NAME_SETTINGS = new Set(['search_path', 'role', 'session_authorization'])

/** SQL value functions whose value is the clock's. */
const CLOCK_VALUES = /^SVFOP_(CURRENT_DATE|CURRENT_TIME|CURRENT_TIMESTAMP|LOCALTIME|LOCALTIMESTAMP)/

/**
 * The words that date and time types read as the moment of the statement (`'now'::timestamptz`,
 * `'today'`), in any case, alone or among other fields (`'tomorrow 10:00'`, `'today UTC'`,
 * `'yesterday allballs'`) and with any amount of space around them, as PostgreSQL's date
 * parser reads them: a run of letters that is one of them. A literal, or a parameter, that
 * holds one makes a read uncacheable (a text that merely contains one, `'known'`, does not).
 */
const MOMENT_WORD = /(?:^|[^a-z])(?:now|today|tomorrow|yesterday)(?![a-z])/i

/** True when `text` (a literal or a parameter) may be read as a moment by a date type. */
export function isMomentString(text: string): boolean {
  return MOMENT_WORD.test(text)
}

const OPERATOR = /^[-+*/<>=~!@#%^&|`?]+$/

let loading: Promise<void> | undefined
let loaded = false

/** Loads the parser (WebAssembly, about 25 ms, once per process). */
export function loadParser(): Promise<void> {
  loading ??= loadModule().then(() => {
    loaded = true
  })
  return loading
}

// Texts kept as keys: at most this many characters in all, so a flood of distinct long
// statements cannot grow the process.
const KEPT_CHARS = 4 * 1024 * 1024
const known = new Map<string, SqlFacts>()
let keptChars = 0

/** The facts of `sql` (one or more statements: the wire protocol's simple queries hold several). */
export function sqlFacts(sql: string): SqlFacts {
  const cached = known.get(sql)
  if (cached) return cached
  const facts = factsOf(sql)
  // Longer texts are never parsed: answering again costs nothing.
  if (sql.length <= MAX_PARSED_BYTES) {
    if (keptChars + sql.length > KEPT_CHARS) {
      known.clear()
      keptChars = 0
    }
    known.set(sql, facts)
    keptChars += sql.length
  }
  return facts
}

type Node = Record<string, unknown>

function factsOf(sql: string): SqlFacts {
  if (sql.length > MAX_PARSED_BYTES)
    return { kind: 'unknown', why: 'the statement is too long to parse' }
  if (!loaded) return { kind: 'unknown', why: 'the SQL parser is not loaded' }
  let stmts: { stmt?: Node }[]
  try {
    stmts = (parseSync(sql) as { stmts?: { stmt?: Node }[] }).stmts ?? []
  } catch {
    return { kind: 'unknown', why: 'the SQL parser could not read the statement' }
  }
  const walker = new Walker()
  for (const { stmt } of stmts) {
    if (!stmt) continue
    const why = walker.statement(stmt)
    if (why !== undefined) return { kind: 'unknown', why }
  }
  if (walker.rebinds !== undefined) return { kind: 'unknown', why: walker.rebinds }
  return walker.facts()
}

/** Collects names and facts over a parse tree. */
class Walker {
  readonly names: NamesUsed = { relations: [], ctes: [], functions: [], operators: [], casts: [] }
  readonly writes: RelationName[] = []
  moment: string | undefined
  /** Why later statements' names may resolve otherwise, when they may. */
  rebinds: string | undefined
  /** Saw at least one statement that reads or writes data. */
  data = false
  write = false

  facts(): SqlFacts {
    if (!this.data) return { kind: 'none' }
    return {
      kind: this.write ? 'write' : 'read',
      ...this.names,
      writes: this.writes,
      moment: this.moment,
    }
  }

  /** One top-level statement; returns why it is unknown, if it is. */
  statement(stmt: Node): string | undefined {
    const [type, body] = Object.entries(stmt)[0] as [string, Node]
    switch (type) {
      case 'SelectStmt':
        if (body.intoClause) return 'SELECT INTO creates a table'
        this.data = true
        this.walk(body)
        return undefined
      case 'InsertStmt':
      case 'UpdateStmt':
      case 'DeleteStmt':
      case 'MergeStmt':
        // Walked from the top, so the statement itself is seen as a node.
        this.walk(stmt)
        return undefined
      case 'TruncateStmt':
        if (body.behavior === 'DROP_CASCADE')
          return 'TRUNCATE … CASCADE empties tables it does not name'
        this.data = true
        this.write = true
        for (const relation of (body.relations as Node[] | undefined) ?? []) {
          const name = relationName(relation.RangeVar as Node)
          this.writes.push(name)
          this.names.relations.push(name)
        }
        return undefined
      case 'CopyStmt':
        this.data = true
        if (body.relation) {
          const name = relationName(body.relation as Node)
          this.names.relations.push(name)
          if (body.is_from) {
            this.write = true
            this.writes.push(name)
          }
        }
        if (body.query) this.walk(body.query as Node)
        return undefined
      case 'ExplainStmt': {
        const analyze = ((body.options as Node[] | undefined) ?? []).some(
          (option) => (option.DefElem as Node | undefined)?.defname === 'analyze',
        )
        // EXPLAIN ANALYZE runs its statement; plain EXPLAIN only plans it.
        return analyze ? this.statement(body.query as Node) : undefined
      }
      case 'DeclareCursorStmt':
        return this.statement(body.query as Node)
      case 'VariableSetStmt':
        if (body.kind === 'VAR_RESET_ALL' || NAME_SETTINGS.has(String(body.name)))
          return 'it changes how the names of later statements resolve'
        return undefined
      default:
        return HARMLESS.has(type)
          ? undefined
          : `a ${type.replace(/Stmt$/, '')} statement may change data (or the schema) in ways the parser cannot see`
    }
  }

  private walk(value: unknown): void {
    if (Array.isArray(value)) {
      for (const item of value) this.walk(item)
      return
    }
    if (value === null || typeof value !== 'object') return
    for (const [key, child] of Object.entries(value as Node)) {
      if (child !== null && typeof child === 'object' && !Array.isArray(child)) {
        this.node(key, child as Node)
      } else if (Array.isArray(child)) this.walk(child)
    }
  }

  /** A child object under `key`: a node when the key is a node type. */
  private node(key: string, body: Node): void {
    switch (key) {
      case 'RangeVar':
        this.names.relations.push(relationName(body))
        break
      case 'CommonTableExpr':
        this.names.ctes.push(body.ctename as string)
        break
      case 'FuncCall': {
        const routine = routineName(body.funcname as Node[])
        this.names.functions.push(routine)
        if (routine.name === 'set_config' && (routine.schema ?? 'pg_catalog') === 'pg_catalog') {
          const setting = ((body.args as Node[] | undefined)?.[0]?.A_Const as Node | undefined)
            ?.sval as Node | undefined
          if (typeof setting?.sval !== 'string' || NAME_SETTINGS.has(setting.sval.toLowerCase()))
            this.rebinds ??= 'set_config may change how the names of later statements resolve'
        }
        break
      }
      case 'A_Expr': {
        const name = routineName(body.name as Node[])
        if (OPERATOR.test(name.name)) this.names.operators.push(name)
        break
      }
      case 'TypeCast': {
        const names = ((body.typeName as Node | undefined)?.names as Node[] | undefined) ?? []
        const last = names.at(-1)?.String as Node | undefined
        if (typeof last?.sval === 'string') this.names.casts.push(last.sval)
        break
      }
      case 'SQLValueFunction':
        if (CLOCK_VALUES.test(String(body.op))) this.moment ??= 'it reads the clock'
        break
      case 'A_Const': {
        const text = (body.sval as Node | undefined)?.sval
        if (typeof text === 'string' && isMomentString(text))
          this.moment ??= `the literal '${text}' is read as the current time`
        break
      }
      case 'RangeTableSample':
        if (body.repeatable === undefined) this.moment ??= 'TABLESAMPLE picks rows at random'
        break
      case 'LockingClause':
        this.moment ??= 'it locks the rows it reads'
        break
      case 'InsertStmt':
      case 'UpdateStmt':
      case 'DeleteStmt':
      case 'MergeStmt':
        this.write = true
        this.data = true
        if (body.relation) {
          const name = relationName(body.relation as Node)
          this.writes.push(name)
          this.names.relations.push(name)
        }
        break
      default:
        break
    }
    if (key !== 'RangeVar') this.walk(body)
  }
}

function relationName(range: Node): RelationName {
  return { schema: range.schemaname as string | undefined, name: range.relname as string }
}

function routineName(parts: Node[]): RoutineName {
  const names = parts.map((part) => String((part.String as Node | undefined)?.sval ?? ''))
  const name = names.at(-1) ?? ''
  return { schema: names.length > 1 ? names.at(-2) : undefined, name }
}
