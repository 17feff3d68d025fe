import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient, sql, type Client } from '../../edge/index.js'
import { admin, type ListeningGateway, listenTestGateway } from '../helpers/gateway.js'

describe('sql', () => {
  it('numbers each value as a parameter and keeps the text as written', () => {
    const q = sql`select * from t where a = ${1} and b = ${'x'}`
    expect(q).toEqual({ text: 'select * from t where a = $1 and b = $2', values: [1, 'x'] })
  })

  it('keeps a template without values as it is', () => {
    expect(sql`select 1`).toEqual({ text: 'select 1', values: [] })
  })

  it('inlines nested fragments, also nested twice, with their values in order', () => {
    const inner = sql`c = ${3}`
    const middle = sql`b = ${2} and ${inner}`
    const q = sql`a = ${1} and ${middle} and d = ${4}`
    expect(q.text).toBe('a = $1 and b = $2 and c = $3 and d = $4')
    expect(q.values).toEqual([1, 2, 3, 4])
  })

  it('sends null, undefined, objects and arrays as values, not as fragments', () => {
    const q = sql`${null} ${undefined} ${{ text: 'drop table t', values: [] }} ${[1]}`
    expect(q.text).toBe('$1 $2 $3 $4')
    expect(q.values).toEqual([null, undefined, { text: 'drop table t', values: [] }, [1]])
  })

  it('serialises to JSON as its text and values only', () => {
    expect(JSON.parse(JSON.stringify(sql`x = ${1}`))).toEqual({ text: 'x = $1', values: [1] })
  })
})

describe('sql.identifier', () => {
  it('double-quotes a name and doubles the quotes inside it', () => {
    expect(sql.identifier('users').text).toBe('"users"')
    expect(sql.identifier('we"ird').text).toBe('"we""ird"')
    expect(sql.identifier('"; drop table users; --').text).toBe('"""; drop table users; --"')
  })

  it('joins several parts into a schema-qualified name, each quoted on its own', () => {
    expect(sql.identifier('app', 'users').text).toBe('"app"."users"')
    // A dot inside one part stays part of that name.
    expect(sql.identifier('a.b').text).toBe('"a.b"')
  })

  it('composes into a statement as text while values stay parameters', () => {
    const q = sql`select ${sql.identifier('email')} from ${sql.identifier('app', 'users')} where id = ${'1; drop'}`
    expect(q).toEqual({
      text: 'select "email" from "app"."users" where id = $1',
      values: ['1; drop'],
    })
  })

  it('refuses an empty name, a NUL, no name at all and anything but a string', () => {
    expect(() => sql.identifier('')).toThrow(TypeError)
    expect(() => sql.identifier('a\0b')).toThrow(/NUL/)
    expect(() => sql.identifier('app', '')).toThrow(TypeError)
    expect(() => sql.identifier()).toThrow(TypeError)
    expect(() => sql.identifier(42 as never)).toThrow(TypeError)
    const lookalike = { replace: () => 'x; drop table users', toString: () => 'users' }
    expect(() => sql.identifier(lookalike as never)).toThrow(TypeError)
  })
})

describe('sql.unsafe', () => {
  it('splices its text as written, between parameters that keep their numbers', () => {
    const direction = sql.unsafe('desc')
    const q = sql`select * from t where a = ${1} order by a ${direction} limit ${10}`
    expect(q).toEqual({
      text: 'select * from t where a = $1 order by a desc limit $2',
      values: [1, 10],
    })
  })

  it('is the only way text gets in: a string value with the same text is a parameter', () => {
    expect(sql`order by a ${'desc'}`).toEqual({ text: 'order by a $1', values: ['desc'] })
  })
})

describe('composed statements on PostgreSQL', () => {
  let t: ListeningGateway
  let db: Client
  const schema = `sql tag "schema" ${process.pid}`
  const table = `we"ird; drop table users; --`

  beforeAll(async () => {
    t = await listenTestGateway()
    db = createClient({ url: t.url, token: t.token })
  })
  afterAll(async () => {
    await admin(`drop schema if exists "${schema.replace(/"/g, '""')}" cascade`)
    await t.close()
  })

  it('creates, fills and reads a table whose schema and name hold quotes and SQL', async () => {
    const name = sql.identifier(schema, table)
    await db.query(sql`create schema ${sql.identifier(schema)}`)
    await db.query(sql`create table ${name} (${sql.identifier('the "id"')} int, note text)`)
    const order = sql`order by ${sql.identifier('the "id"')} ${sql.unsafe('desc')}`
    const filter = sql`note <> ${"'); drop table x; --"}`
    await db.query(sql`insert into ${name} values (${1}, ${'a'}), (${2}, ${"b'"})`)
    const rows = await db.sql`select * from ${name} where ${filter} ${order}`
    expect(rows).toEqual([
      { 'the "id"': 2, note: "b'" },
      { 'the "id"': 1, note: 'a' },
    ])
    const found = await admin(
      'select table_schema, table_name from information_schema.tables where table_schema = $1',
      [schema],
    )
    expect(found).toEqual([{ table_schema: schema, table_name: table }])
  })
})
