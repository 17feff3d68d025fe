import { describe, expect, it } from 'vitest'
import { sql } from '../../edge/index.js'

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
