import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, it } from 'vitest'
import { analyzeSql, analyzeSqlEveryWay } from '../../../server/engine/analyze.js'

describe('analyzeSql', () => {
  it('counts statements, skipping separators inside strings, identifiers, dollar quotes and comments', () => {
    expect(analyzeSql('select 1').statements).toBe(1)
    expect(analyzeSql('select 1;').statements).toBe(1)
    expect(analyzeSql('select 1; select 2').statements).toBe(2)
    expect(
      analyzeSql(`select ';', "a;b", $$;$$, $tag$ ; $tag$, E'\\';' -- ;\n/* ; /* ; */ */`)
        .statements,
    ).toBe(1)
    expect(analyzeSql('  -- only a comment\n').statements).toBe(0)
    expect(analyzeSql('select 1 -- a comment ends at CR too\r; commit').statements).toBe(2)
    expect(analyzeSql('select $1::int').statements).toBe(1)
  })

  it('finds transaction control by the leading keyword', () => {
    for (const sql of [
      'BEGIN',
      'begin isolation level serializable',
      'start transaction',
      'commit',
      'END',
      'rollback',
      'abort',
      "prepare transaction 'x'",
      'commit; rollback to savepoint a',
      'rollback to a; prepare transaction x',
    ]) {
      expect(analyzeSql(sql).transactionControl, sql).toBe(true)
    }
    for (const sql of [
      'select 1',
      "select 'begin'",
      'rollback_log',
      'do $$ begin perform 1; end $$',
      'prepare p as select 1',
      'savepoint a',
      'release savepoint a',
      'rollback to savepoint a',
      'ROLLBACK TO a',
      'rollback work to savepoint a',
      'rollback transaction to a',
    ]) {
      expect(analyzeSql(sql).transactionControl, sql).toBe(false)
    }
  })

  it('ends a -- comment at a carriage return, as PostgreSQL does, so a COMMIT after one is seen', () => {
    expect(analyzeSql('--x\rCOMMIT /*\n*/')).toMatchObject({
      statements: 1,
      leading: 'commit',
      transactionControl: true,
    })
    expect(analyzeSql('select 1 -- one\r\n').statements).toBe(1)
  })

  it('reads a backslash in a string every way PostgreSQL may, when asked', () => {
    const sql = "select 'a\\''; commit"
    expect(analyzeSqlEveryWay(sql).map((reading) => reading.statements)).toEqual([1, 2, 1])
    expect(analyzeSqlEveryWay('select 1; commit')).toEqual([analyzeSql('select 1; commit')])
  })

  it('finds the highest $n parameter, outside strings, identifiers, comments and dollar quotes', () => {
    expect(analyzeSql('select 1').maxParam).toBe(0)
    expect(analyzeSql('select $1, $2::int, $1').maxParam).toBe(2)
    expect(analyzeSql('select $12').maxParam).toBe(12)
    expect(analyzeSql(`select '$3', "$4", $$ $5 $$, $q$ $6 $q$ -- $7\n/* $8 */, $2`).maxParam).toBe(
      2,
    )
    expect(analyzeSql('select a$1 from t').maxParam).toBe(0)
  })

  it('spots COPY to or from the client', () => {
    expect(analyzeSql('copy t from stdin').copyStream).toBe(true)
    expect(analyzeSql('COPY (select 1) TO STDOUT').copyStream).toBe(true)
    expect(analyzeSql("copy t from '/tmp/x'").copyStream).toBe(false)
    expect(analyzeSql("select 'stdin'").copyStream).toBe(false)
  })

  it('remembers a bounded amount of text, however many long statements a client sends', () => {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    gc()
    const before = process.memoryUsage().heapUsed
    // What a token holder can send in a hundred 1 MiB bodies (refused ones are analysed too).
    const padding = 'x'.repeat(1024 * 1024)
    for (let i = 0; i < 100; i++) analyzeSql(`select ${i} /* ${padding} */; select 2`)
    gc()
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(32 * 1024 * 1024)
  })

  it('keeps a short text in its cache, but not a long one: each text is kept as the key', () => {
    const short = 'select 1 as cached_short_text'
    expect(analyzeSql(short)).toBe(analyzeSql(short))
    const long = `select 1 -- ${'x'.repeat(1024 * 1024)}`
    expect(analyzeSql(long)).toEqual(analyzeSql(long))
    expect(analyzeSql(long)).not.toBe(analyzeSql(long))
  })

  it('bounds the text its cache holds in bytes, not only in entries', () => {
    // Distinct statements of 60 KiB from any token: by count alone, 4096 of them (240 MiB)
    // would stay held.
    const short = 'select 2 as evicted_short_text'
    const first = analyzeSql(short)
    for (let i = 0; i < 300; i++) analyzeSql(`select ${i} -- ${'y'.repeat(60 * 1024)}`)
    expect(analyzeSql(short)).not.toBe(first)
  })
})
