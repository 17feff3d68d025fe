import { beforeAll, describe, expect, it } from 'vitest'
import {
  MAX_PARSED_BYTES,
  isMomentString,
  loadParser,
  sqlFacts,
} from '../../../server/cache/sql-facts.js'

beforeAll(() => loadParser())

const names = (sql: string) => {
  const facts = sqlFacts(sql)
  if (facts.kind !== 'read' && facts.kind !== 'write') throw new Error(`${sql}: ${facts.kind}`)
  return facts
}

describe('sqlFacts (PostgreSQL parser)', () => {
  it('sees a plain read, its relations and its functions', () => {
    const facts = names(
      'select u.id, lower(u.name) from app.users u join orders o on o.user_id = u.id where u.id = $1',
    )
    expect(facts.kind).toBe('read')
    expect(facts.moment).toBeUndefined()
    expect(facts.relations).toEqual([
      { schema: 'app', name: 'users' },
      { schema: undefined, name: 'orders' },
    ])
    expect(facts.functions).toEqual([{ schema: undefined, name: 'lower' }])
    expect(facts.operators.map((o) => o.name)).toEqual(['=', '='])
  })

  it('ignores now() inside a comment: the parser never sees comments', () => {
    const facts = names('select id /* now() */ from t -- and random()\n where id = 1')
    expect(facts.functions).toEqual([])
    expect(facts.moment).toBeUndefined()
  })

  it('names now(), random() and nextval() as the functions they are', () => {
    expect(names('select now(), random(), nextval($1)').functions.map((f) => f.name)).toEqual([
      'now',
      'random',
      'nextval',
    ])
  })

  it.each([
    ['select current_timestamp', 'it reads the clock'],
    ['select localtime', 'it reads the clock'],
    ['select current_date + 1', 'it reads the clock'],
    ["select 'now'::timestamptz", "the literal 'now' is read as the current time"],
    ["select * from t where d > ' Today '", "the literal ' Today ' is read as the current time"],
    ['select * from t tablesample bernoulli (10)', 'TABLESAMPLE picks rows at random'],
    ['select * from t for update', 'it locks the rows it reads'],
    ['select * from t for share skip locked', 'it locks the rows it reads'],
  ])('sees what ties %s to the moment it runs', (sql, moment) => {
    expect(names(sql).moment).toBe(moment)
  })

  it('keeps a repeatable TABLESAMPLE and current_user cacheable as far as the text goes', () => {
    expect(names('select * from t tablesample system (5) repeatable (7)').moment).toBeUndefined()
    expect(names('select current_user, current_schema').moment).toBeUndefined()
  })

  it.each([
    ['insert into t values (1)', ['t']],
    ['update s.t set a = 1 where id = $1', ['t']],
    ['delete from t using u where t.id = u.id', ['t']],
    ['merge into t using u on t.id = u.id when matched then delete', ['t']],
    ['truncate a, b', ['a', 'b']],
    ['copy t from stdin', ['t']],
    ['with w as (insert into log values (1) returning *) select * from w', ['log']],
    ['explain analyze delete from t', ['t']],
  ])('sees %s write %j', (sql, written) => {
    const facts = names(sql)
    expect(facts.kind).toBe('write')
    expect(facts.writes.map((w) => w.name)).toEqual(written)
  })

  it('records CTE names, so an unqualified name of one is not taken for a missing table', () => {
    expect(names('with recent as (select 1) select * from recent').ctes).toEqual(['recent'])
  })

  it.each([
    ['create table x (id int)'],
    ['alter table t add column c int'],
    ['drop table t'],
    ['do $$ begin perform 1; end $$'],
    ['call refresh_everything()'],
    ['execute prepared_write'],
    ['select * into copy_of_t from t'],
    ['truncate t cascade'],
    ['refresh materialized view m'],
    ['grant select on t to someone'],
  ])('calls %s unknown: its effect cannot be read from the text', (sql) => {
    expect(sqlFacts(sql).kind).toBe('unknown')
  })

  it.each([
    ['set local search_path = x'],
    ['reset all'],
    ['set role someone'],
    ["select set_config('Search_Path', 'x', true)"],
    ['select set_config($1, $2, true)'],
  ])('calls %s unknown: later statements may name other tables', (sql) => {
    expect(sqlFacts(sql).kind).toBe('unknown')
  })

  it('takes a set_config of another setting for the read it is', () => {
    expect(sqlFacts("select set_config('app.user', $1, true)").kind).toBe('read')
  })

  it.each([["set timezone = 'UTC'"], ['show timezone'], ['explain select 1'], ['listen x']])(
    'sees that %s writes no data',
    (sql) => {
      expect(sqlFacts(sql)).toEqual({ kind: 'none' })
    },
  )

  it('calls text it cannot parse, or too long to parse, unknown', () => {
    expect(sqlFacts('selec 1')).toMatchObject({ kind: 'unknown' })
    const long = `select ${'1,'.repeat(MAX_PARSED_BYTES / 2)}1`
    expect(sqlFacts(long)).toEqual({ kind: 'unknown', why: 'the statement is too long to parse' })
  })

  it('takes several statements of one text together (the wire protocol sends such texts)', () => {
    const facts = names('select 1; insert into t values (1); update u set a = 2')
    expect(facts.kind).toBe('write')
    expect(facts.writes.map((w) => w.name)).toEqual(['t', 'u'])
    expect(sqlFacts('select 1; drop table t').kind).toBe('unknown')
  })

  it('reads only the four moment words as moments', () => {
    for (const word of ['now', 'NOW', ' today', 'tomorrow', 'yesterday'])
      expect(isMomentString(word)).toBe(true)
    for (const word of ['epoch', 'nowhere', '2026-01-01', 'infinity'])
      expect(isMomentString(word)).toBe(false)
  })
})
