/**
 * A small SQL lexer, for clear answers before a statement costs a connection: it counts
 * statements, finds the leading keyword (transaction control, COPY to or from the client)
 * and the highest `$n` parameter, skipping strings, quoted identifiers, dollar quotes and
 * comments. PostgreSQL refuses most of what the lexer might miss, and every session is
 * reset after use (server/pool/session-reset.ts), but one finding is relied on: transaction
 * control, refused so that no statement ends a readonly token's READ ONLY batch or
 * transaction and leaves the rest of it read-write. So comments, strings and quotes must end
 * exactly where PostgreSQL's scanner (scan.l) ends them. It is a lexer,
 * not libpg-query's parser, because it runs on every request at any size: PostgreSQL's
 * parser compiled to WASM costs ~1 µs a byte (a 1 MiB body would hold the event loop for a
 * second), this ~10 ns. Results are cached per text.
 */

/** What the gateway needs to know about a statement's text. */
export interface SqlAnalysis {
  /** Non-empty statements separated by `;`. */
  statements: number
  /** First keyword, lower-case ('' when there is none). */
  leading: string
  /**
   * BEGIN, COMMIT, ROLLBACK, START TRANSACTION, END, ABORT, PREPARE TRANSACTION…: not
   * SAVEPOINT, RELEASE or ROLLBACK TO, which stay inside the transaction.
   */
  transactionControl: boolean
  /** COPY … FROM STDIN / TO STDOUT, which needs a copy stream HTTP cannot carry. */
  copyStream: boolean
  /** The highest `$n` parameter used (0 for none): PostgreSQL expects exactly that many. */
  maxParam: number
  /**
   * Holds a word that may leave state in the session (SET, LISTEN, PREPARE, temp tables,
   * advisory locks…). Only a hint for the wire protocol, which then asks PostgreSQL whether
   * to pin the session to its backend (server/wire/session-state.ts). Isolation never rests
   * on it: every borrow is reset whatever ran (server/pool/session-reset.ts).
   */
  sessionWords: boolean
}

const SESSION_WORDS = new Set([
  'set',
  'reset',
  'set_config',
  'prepare',
  'deallocate',
  'listen',
  'unlisten',
  'temp',
  'temporary',
  'pg_temp',
  'declare',
  'discard',
  'load',
  'lock',
  'do',
  'call',
  'setseed',
])

const TRANSACTION_LEADS = new Set(['begin', 'start', 'commit', 'end', 'rollback', 'abort'])

const CACHE_LIMIT = 4096
/**
 * Each text is kept as its key, and any token may send distinct megabyte statements: the
 * cache is bounded in characters too, and a text longer than {@link MAX_CACHED_LENGTH},
 * whose lexing costs little beside receiving it, is not kept at all.
 */
const CACHE_CHARS = 16 * 1024 * 1024
const MAX_CACHED_LENGTH = 64 * 1024
const cache = new Map<string, SqlAnalysis>()
let cachedChars = 0

function isWordStart(code: number): boolean {
  return (code >= 97 && code <= 122) || (code >= 65 && code <= 90) || code === 95 || code > 127
}

function isWordPart(code: number): boolean {
  return isWordStart(code) || (code >= 48 && code <= 57) || code === 36
}

/** Analyses `sql` (cached). */
export function analyzeSql(sql: string): SqlAnalysis {
  const cached = cache.get(sql)
  if (cached) return cached
  const result = scan(sql)
  if (sql.length > MAX_CACHED_LENGTH) return result
  if (cache.size >= CACHE_LIMIT || cachedChars + sql.length > CACHE_CHARS) {
    cache.clear()
    cachedChars = 0
  }
  cache.set(sql, result)
  cachedChars += sql.length
  return result
}

/**
 * Each way PostgreSQL may read `sql`, for a check that must hold whatever the session's
 * settings: as {@link analyzeSql} does (a backslash escapes in E'…' strings only), and, when
 * the text holds a backslash, with `standard_conforming_strings` off (a backslash escapes in
 * every string; a session may turn it off) and with no escapes at all. Not cached.
 */
export function analyzeSqlEveryWay(sql: string): SqlAnalysis[] {
  const usual = analyzeSql(sql)
  if (!sql.includes('\\')) return [usual]
  return [usual, scan(sql, 'all'), scan(sql, 'none')]
}

/** Where a backslash escapes the next character in a string. */
type Backslashes = 'e-strings' | 'all' | 'none'

function scan(sql: string, backslashes: Backslashes = 'e-strings'): SqlAnalysis {
  let statements = 0
  let leading = ''
  let statementLead = ''
  let wordsInStatement = 0
  let transactionControl = false
  /** The statement being read is transaction control (so far: ROLLBACK TO undoes it). */
  let control = false
  let copyStream = false
  let maxParam = 0
  let sessionWords = false
  const length = sql.length
  let i = 0

  const word = (w: string) => {
    if (wordsInStatement === 0) {
      statements++
      if (statements === 1) leading = w
      control = TRANSACTION_LEADS.has(w)
    } else if (wordsInStatement === 1 && w === 'transaction' && statementLead === 'prepare') {
      // PREPARE TRANSACTION ends the transaction too.
      control = true
    } else if (wordsInStatement <= 2 && w === 'to' && statementLead === 'rollback') {
      // ROLLBACK [WORK | TRANSACTION] TO [SAVEPOINT] name only unwinds to a savepoint (this
      // statement only: an earlier COMMIT in the text still counts).
      control = false
    }
    if (SESSION_WORDS.has(w) || w.includes('advisory')) sessionWords = true
    if ((w === 'stdin' || w === 'stdout') && statementLead === 'copy') copyStream = true
    wordsInStatement++
  }

  while (i < length) {
    const c = sql.charCodeAt(i)
    // -- comment, which PostgreSQL ends at a carriage return as well as at a newline: read
    // further, a `--x\rCOMMIT` would hide the COMMIT that PostgreSQL runs.
    if (c === 45 && sql.charCodeAt(i + 1) === 45) {
      i += 2
      while (i < length && sql.charCodeAt(i) !== 10 && sql.charCodeAt(i) !== 13) i++
      continue
    }
    // /* comment */, nested
    if (c === 47 && sql.charCodeAt(i + 1) === 42) {
      let depth = 1
      i += 2
      while (i < length && depth > 0) {
        if (sql.charCodeAt(i) === 47 && sql.charCodeAt(i + 1) === 42) {
          depth++
          i += 2
        } else if (sql.charCodeAt(i) === 42 && sql.charCodeAt(i + 1) === 47) {
          depth--
          i += 2
        } else i++
      }
      continue
    }
    // 'string', E'string' (the E was read as a word; backslashes escape there)
    if (c === 39) {
      const escapes =
        backslashes === 'e-strings'
          ? i > 0 && (sql.charCodeAt(i - 1) | 32) === 101 && !isWordPart(sql.charCodeAt(i - 2))
          : backslashes === 'all'
      if (wordsInStatement === 0) word('')
      i++
      while (i < length) {
        const d = sql.charCodeAt(i)
        if (escapes && d === 92) i += 2
        else if (d === 39) {
          if (sql.charCodeAt(i + 1) === 39) i += 2
          else break
        } else i++
      }
      i++
      continue
    }
    // "quoted identifier"
    if (c === 34) {
      if (wordsInStatement === 0) word('')
      i++
      while (i < length) {
        if (sql.charCodeAt(i) === 34) {
          if (sql.charCodeAt(i + 1) === 34) i += 2
          else break
        } else i++
      }
      i++
      continue
    }
    // $tag$ dollar quote $tag$ (not $1 parameters)
    if (c === 36) {
      let j = i + 1
      while (j < length && isWordPart(sql.charCodeAt(j)) && sql.charCodeAt(j) !== 36) j++
      const tagBody = sql.slice(i + 1, j)
      if (/^[0-9]+$/.test(tagBody)) maxParam = Math.max(maxParam, Number(tagBody))
      if (sql.charCodeAt(j) === 36 && !/^[0-9]/.test(tagBody)) {
        const tag = sql.slice(i, j + 1)
        const end = sql.indexOf(tag, j + 1)
        if (wordsInStatement === 0) word('')
        i = end < 0 ? length : end + tag.length
        continue
      }
      i = j
      continue
    }
    if (c === 59) {
      if (control) transactionControl = true
      control = false
      wordsInStatement = 0
      statementLead = ''
      i++
      continue
    }
    if (isWordStart(c)) {
      let j = i + 1
      while (j < length && isWordPart(sql.charCodeAt(j))) j++
      const w = sql.slice(i, j).toLowerCase()
      if (wordsInStatement === 0) statementLead = w
      word(w)
      i = j
      continue
    }
    if (c > 32 && wordsInStatement === 0) word('')
    i++
  }
  if (control) transactionControl = true
  return { statements, leading, transactionControl, copyStream, maxParam, sessionWords }
}
