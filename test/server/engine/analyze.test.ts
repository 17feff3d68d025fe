import { describe, expect, it } from 'vitest'
import { analyzeSql } from '../../../server/engine/analyze.js'

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

  it('flags words that may change session state, but not inside strings', () => {
    for (const sql of [
      "set timezone = 'UTC'",
      "select set_config('a.b', '1', false)",
      'prepare p as select 1',
      'create temp table t (x int)',
      'create table pg_temp.t (x int)',
      'select pg_advisory_lock(1)',
      'listen chan',
      'declare c cursor with hold for select 1',
      'do $$ begin end $$',
    ]) {
      expect(analyzeSql(sql).sessionEffects, sql).toBe(true)
    }
    for (const sql of [
      'select 1',
      "select 'set temp listen'",
      'insert into t values (1)',
      'select "set" from t',
    ]) {
      expect(analyzeSql(sql).sessionEffects, sql).toBe(false)
    }
  })

  it('spots COPY to or from the client', () => {
    expect(analyzeSql('copy t from stdin').copyStream).toBe(true)
    expect(analyzeSql('COPY (select 1) TO STDOUT').copyStream).toBe(true)
    expect(analyzeSql("copy t from '/tmp/x'").copyStream).toBe(false)
    expect(analyzeSql("select 'stdin'").copyStream).toBe(false)
  })
})
