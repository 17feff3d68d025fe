import { describe, expect, it } from 'vitest'
import {
  KEPT_STATEMENT_BYTES,
  WrittenStatements,
} from '../../../server/engine/written-statements.js'

describe('WrittenStatements', () => {
  it('keeps each distinct text once', () => {
    const written = new WrittenStatements()
    written.add('update a set x = 1')
    written.add('update a set x = 1')
    written.add('delete from b')
    expect(written.sqls()).toEqual(['update a set x = 1', 'delete from b'])
  })

  it('lets the texts go and answers all once they pass the bound, whatever comes after', () => {
    const written = new WrittenStatements()
    const half = 'x'.repeat(KEPT_STATEMENT_BYTES / 2)
    written.add(`select 1 -- ${half}`)
    expect(written.sqls()).toHaveLength(1)
    written.add(`select 2 -- ${half}`)
    expect(written.sqls()).toBe('all')
    written.add('update a set x = 1')
    expect(written.sqls()).toBe('all')
  })
})
