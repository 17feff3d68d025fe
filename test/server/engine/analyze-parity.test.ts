import { loadModule, parseSync } from 'libpg-query'
import { beforeAll, describe, expect, it } from 'vitest'
import { analyzeSql } from '../../../server/engine/analyze.js'

// Pieces PostgreSQL's scanner treats specially: comments and what ends them, every kind of
// string and quoted identifier, dollar quotes and parameters, operators that hold comment
// starts, and the transaction keywords the lexer must find.
const PIECES = [
  '--x',
  '\r',
  '\n',
  '\r\n',
  '\t',
  '\f',
  '\v',
  ' ',
  '/*',
  '*/',
  '/* /*',
  "'",
  "''",
  "E'",
  "\\'",
  '\\',
  "N'",
  "b'",
  "x'",
  "U&'",
  'U&"',
  '"',
  ' uescape ',
  "'!'",
  '$$',
  '$a$',
  'a$$',
  'a$',
  '$1',
  'x$1',
  '::',
  '+-',
  '*--',
  '<>',
  '-',
  '/',
  '*',
  ';',
  'select 1',
  'select',
  'x',
  'e',
  'n',
  '_',
  'é',
  '0x',
  '1e',
  '.',
  'commit',
  'commit;',
  ';commit',
  'begin',
  'end',
  'abort',
  'rollback',
  'to',
  'savepoint',
  'prepare transaction',
]

/** A small deterministic PRNG (mulberry32), so a failure names an input that reproduces. */
function random(seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

interface Parsed {
  statements: number
  transactionControl: boolean
}

/** What PostgreSQL's own parser finds in `sql`, or undefined when it refuses the text. */
function parsed(sql: string): Parsed | undefined {
  let stmts: { stmt?: Record<string, { kind?: string }> }[]
  try {
    stmts = (parseSync(sql) as { stmts?: typeof stmts }).stmts ?? []
  } catch {
    return undefined
  }
  const kinds = stmts.map((s) => s.stmt?.TransactionStmt?.kind)
  return {
    statements: stmts.filter((s) => s.stmt !== undefined).length,
    // Savepoints stay inside the transaction; everything else ends or starts one.
    transactionControl: kinds.some(
      (kind) =>
        kind !== undefined &&
        !['TRANS_STMT_SAVEPOINT', 'TRANS_STMT_RELEASE', 'TRANS_STMT_ROLLBACK_TO'].includes(kind),
    ),
  }
}

describe('analyzeSql against PostgreSQL parser', () => {
  beforeAll(() => loadModule())

  it('counts the statements and finds the transaction control that PostgreSQL parser finds, in random SQL-like text', () => {
    const next = random(20261129)
    const disagreements: string[] = []
    let compared = 0
    for (let i = 0; i < 120_000 && disagreements.length < 5; i++) {
      let sql = ''
      const length = 1 + Math.floor(next() * 8)
      for (let j = 0; j < length; j++) sql += PIECES[Math.floor(next() * PIECES.length)]
      const pg = parsed(sql)
      if (!pg) continue
      compared++
      const ours = analyzeSql(sql)
      // A readonly batch relies on both: one statement per entry, and no transaction control.
      if (
        ours.statements !== pg.statements ||
        (pg.transactionControl && !ours.transactionControl)
      ) {
        disagreements.push(
          `${JSON.stringify(sql)}: PostgreSQL ${JSON.stringify(pg)}, lexer ${JSON.stringify({ statements: ours.statements, transactionControl: ours.transactionControl })}`,
        )
      }
    }
    expect(disagreements).toEqual([])
    // The comparison means something only if many inputs parse.
    expect(compared).toBeGreaterThan(3000)
  })
})
