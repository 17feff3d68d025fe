/**
 * The session reset that ends every borrow, sent in the same write as a `/v1/query`
 * statement: the next borrower still finds a clean session, and the reset's own answer is
 * never taken for the statement's rows (a result exactly at the limits passes).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestGateway, type TestGateway } from '../../helpers/gateway.js'

describe('the pipelined session reset', () => {
  let t: TestGateway
  beforeAll(async () => {
    // One connection: every request borrows the one the previous request used.
    t = await startTestGateway({ pool: { min: 1, max: 1, prepareThreshold: 2 }, maxRows: 3 })
  })
  afterAll(() => t.close())

  it('leaves the next borrower a clean session, prepared or not', async () => {
    for (let i = 0; i < 4; i++) {
      const set = await t.json('/v1/query', { sql: "select set_config('work_mem', '77MB', false)" })
      expect(set.status).toBe(200)
      const shown = await t.json('/v1/query', { sql: 'show work_mem' })
      expect(shown.body.rows[0][0]).not.toBe('77MB')
    }
  })

  it("counts only the statement's rows against the limits", async () => {
    for (let i = 0; i < 4; i++) {
      const answer = await t.json('/v1/query', { sql: 'select g from generate_series(1, 3) g' })
      expect(answer.status).toBe(200)
      expect(answer.body.rows).toEqual([['1'], ['2'], ['3']])
    }
    const over = await t.json('/v1/query', { sql: 'select g from generate_series(1, 4) g' })
    expect(over.body.error.code).toBe('RESULT_TOO_LARGE')
  })
})
