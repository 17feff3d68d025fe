import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  admin,
  backends,
  eventually,
  newToken,
  startTestGateway,
  type TestGateway,
} from '../../helpers/gateway.js'

describe('interactive transactions', () => {
  let t: TestGateway
  beforeAll(async () => {
    t = await startTestGateway({
      pool: { min: 0, max: 4 },
      // The default idle timeout (10 s) outlasts any pause of a busy machine between two
      // requests of a test; the tests of idle timeouts ask for short ones.
      transactions: { maxOpenShare: 0.5, timeoutMs: 5000, maxTimeoutMs: 60_000 },
    })
    await admin('create table if not exists tx_probe (id int primary key)')
    await admin('truncate tx_probe')
  })
  afterAll(() => t.close())
  afterEach(async () => {
    await eventually(() => t.gateway.transactions.count() === 0)
    await admin('truncate tx_probe')
  })

  const begin = async (body: unknown = {}, token?: string) => {
    const res = await t.json('/v1/transactions', body, token)
    expect(res.status, JSON.stringify(res.body)).toBe(201)
    return res.body as { id: string; expiresAt: string }
  }
  const ids = async () => (await admin('select id from tx_probe order by id')).map((r) => r.id)
  const idleInTransaction = async () =>
    (await backends(t.applicationName)).filter((b) => b.state?.startsWith('idle in transaction'))

  it('opens, queries and commits', async () => {
    const tx = await begin()
    expect(tx.id.length).toBeGreaterThanOrEqual(32)
    expect(Date.parse(tx.expiresAt)).toBeGreaterThan(Date.now())
    const insert = await t.json(`/v1/transactions/${tx.id}/query`, {
      sql: 'insert into tx_probe values ($1)',
      params: [1],
    })
    expect(insert.body).toMatchObject({ command: 'INSERT', rowCount: 1 })
    // Not visible outside before commit.
    expect(await ids()).toEqual([])
    const commit = await t.json(`/v1/transactions/${tx.id}/commit`, {})
    expect(commit).toMatchObject({ status: 200, body: { committed: true } })
    expect(await ids()).toEqual([1])
    const again = await t.json(`/v1/transactions/${tx.id}/query`, { sql: 'select 1' })
    expect(again.status).toBe(404)
    expect(again.body.error.code).toBe('TX_NOT_FOUND')
  })

  it('rolls back on request', async () => {
    const tx = await begin()
    await t.json(`/v1/transactions/${tx.id}/query`, { sql: 'insert into tx_probe values (2)' })
    const rollback = await t.json(`/v1/transactions/${tx.id}/rollback`, '')
    expect(rollback).toMatchObject({ status: 200, body: { committed: false } })
    expect(await ids()).toEqual([])
  })

  it('honours isolation, readOnly and deferrable', async () => {
    const tx = await begin({ isolation: 'repeatable read', readOnly: true })
    const iso = await t.json(`/v1/transactions/${tx.id}/query`, {
      sql: 'show transaction_isolation',
    })
    expect(iso.body.rows[0][0]).toBe('repeatable read')
    const write = await t.json(`/v1/transactions/${tx.id}/query`, {
      sql: 'insert into tx_probe values (3)',
    })
    expect(write.status).toBe(403)
    await t.json(`/v1/transactions/${tx.id}/rollback`, {})
  })

  it('tells only the token that began a transaction how it ended; others get a plain TX_NOT_FOUND', async () => {
    const committed = await begin()
    await t.json(`/v1/transactions/${committed.id}/commit`, {})
    const rolledBack = await begin()
    await t.json(`/v1/transactions/${rolledBack.id}/rollback`, {})
    const mine = await t.json(`/v1/transactions/${committed.id}/query`, { sql: 'select 1' })
    expect(mine.body.error).toMatchObject({ code: 'TX_NOT_FOUND' })
    expect(mine.body.error.message).toBe(`transaction ${committed.id} is over: it was committed`)
    const mineToo = await t.json(`/v1/transactions/${rolledBack.id}/commit`, {})
    expect(mineToo.body.error.message).toBe(
      `transaction ${rolledBack.id} is over: it was rolled back by its client`,
    )
    for (const id of [committed.id, rolledBack.id]) {
      const theirs = await t.json(
        `/v1/transactions/${id}/query`,
        { sql: 'select 1' },
        t.readonlyToken,
      )
      expect(theirs.status).toBe(404)
      // The same answer as for an id that never existed: nothing says this one did.
      expect(theirs.body.error.message).toBe(`no open transaction ${id} for this token`)
    }
  })

  it('is only usable with the token that opened it', async () => {
    const tx = await begin()
    const other = await t.json(
      `/v1/transactions/${tx.id}/query`,
      { sql: 'select 1' },
      t.readonlyToken,
    )
    expect(other.status).toBe(404)
    expect(other.body.error.code).toBe('TX_NOT_FOUND')
    const unknown = await t.json(`/v1/transactions/${newToken()}/commit`, {})
    expect(unknown.status).toBe(404)
    await t.json(`/v1/transactions/${tx.id}/rollback`, {})
  })

  it('is not usable with another token of the same tenant and role either', async () => {
    const [mine, theirs] = [newToken(), newToken()]
    const g = await startTestGateway({
      pool: { min: 0, max: 2 },
      tokens: [
        { token: mine, role: 'readwrite' },
        { token: theirs, role: 'readwrite' },
      ],
    })
    try {
      const tx = (await g.json('/v1/transactions', {}, mine)).body
      const other = await g.json(`/v1/transactions/${tx.id}/query`, { sql: 'select 1' }, theirs)
      expect(other.status).toBe(404)
      expect(other.body.error.message).toBe(`no open transaction ${tx.id} for this token`)
      expect((await g.json(`/v1/transactions/${tx.id}/commit`, {}, theirs)).status).toBe(404)
      // Still open for its own token.
      expect((await g.json(`/v1/transactions/${tx.id}/commit`, {}, mine)).body).toEqual({
        committed: true,
      })
    } finally {
      await g.close()
    }
  })

  it('keeps a failed transaction aborted until rollback, and says so', async () => {
    const tx = await begin()
    await t.json(`/v1/transactions/${tx.id}/query`, { sql: 'insert into tx_probe values (4)' })
    const bad = await t.json(`/v1/transactions/${tx.id}/query`, { sql: 'select * from nope' })
    expect(bad.status).toBe(400)
    expect(bad.body.error.message).toContain('roll back, or roll back to a savepoint')
    const next = await t.json(`/v1/transactions/${tx.id}/query`, { sql: 'select 1' })
    expect(next.body.error.sqlstate).toBe('25P02')
    const commit = await t.json(`/v1/transactions/${tx.id}/commit`, {})
    expect(commit.status).toBe(400)
    expect(commit.body.error.sqlstate).toBe('25P02')
    expect(await ids()).toEqual([])
  })

  it('runs SAVEPOINT, ROLLBACK TO SAVEPOINT and RELEASE, so a failed step can be undone and the rest committed', async () => {
    const tx = await begin()
    const q = (sql: string) => t.json(`/v1/transactions/${tx.id}/query`, { sql })
    expect((await q('insert into tx_probe values (40)')).status).toBe(200)
    expect((await q('savepoint a')).status).toBe(200)
    expect((await q('insert into tx_probe values (41)')).status).toBe(200)
    expect((await q('rollback to savepoint a')).status).toBe(200)
    expect((await q('savepoint b')).status).toBe(200)
    // A failure inside the savepoint aborts it; ROLLBACK TO brings the transaction back.
    expect((await q('select * from nope')).status).toBe(400)
    expect((await q('ROLLBACK TRANSACTION TO b')).status).toBe(200)
    expect((await q('insert into tx_probe values (42)')).status).toBe(200)
    expect((await q('release savepoint b')).status).toBe(200)
    expect((await t.json(`/v1/transactions/${tx.id}/commit`, {})).body).toEqual({ committed: true })
    expect(await ids()).toEqual([40, 42])
    await admin('delete from tx_probe where id >= 40')
  })

  it('rolls back after the idle timeout and returns the connection', async () => {
    const tx = await begin({ idleTimeoutMs: 200 })
    await t.json(`/v1/transactions/${tx.id}/query`, { sql: 'insert into tx_probe values (5)' })
    await eventually(() => t.gateway.transactions.count() === 0)
    const late = await t.json(`/v1/transactions/${tx.id}/query`, { sql: 'select 1' })
    expect(late.status).toBe(404)
    expect(late.body.error.message).toContain('idle for more than 200 ms')
    expect(await ids()).toEqual([])
    expect(await idleInTransaction()).toEqual([])
    await eventually(() => t.gateway.tenants.get('main')!.pool.stats().poolInUse === 0)
  })

  it('rolls back after the maximum duration, cancelling a running statement', async () => {
    const tx = await begin({ timeoutMs: 300, idleTimeoutMs: 2000 })
    await t.json(`/v1/transactions/${tx.id}/query`, { sql: 'insert into tx_probe values (6)' })
    const running = await t.json(`/v1/transactions/${tx.id}/query`, { sql: 'select pg_sleep(10)' })
    expect(running.status).toBe(504)
    const late = await t.json(`/v1/transactions/${tx.id}/commit`, {})
    expect(late.status).toBe(404)
    expect(late.body.error.message).toContain('maximum duration (300 ms)')
    expect(await ids()).toEqual([])
    await eventually(async () =>
      (await backends(t.applicationName)).every((b) => b.state !== 'active'),
    )
  })

  it('cancels a COMMIT that runs past statementTimeoutMs, even with statement_timeout turned off', async () => {
    // A deferred constraint trigger runs at COMMIT: here, longer than the statement cap.
    const table = `tx_slow_commit_${process.pid}`
    await admin(`create table ${table} (x int)`)
    await admin(
      `create function ${table}_sleep() returns trigger language plpgsql as $$ begin perform pg_sleep(5); return null; end $$`,
    )
    await admin(
      `create constraint trigger sleeps after insert on ${table} deferrable initially deferred for each row execute function ${table}_sleep()`,
    )
    const capped = await startTestGateway({ pool: { min: 0, max: 2 }, statementTimeoutMs: 300 })
    try {
      const tx = await capped.json('/v1/transactions', {})
      const query = (sql: string) => capped.json(`/v1/transactions/${tx.body.id}/query`, { sql })
      expect((await query('set statement_timeout = 0')).status).toBe(200)
      expect((await query(`insert into ${table} values (1)`)).status).toBe(200)
      const commit = await capped.json(`/v1/transactions/${tx.body.id}/commit`, {})
      expect(commit.status).toBe(504)
      expect(commit.body.error.code).toBe('STATEMENT_TIMEOUT')
      expect(await admin(`select * from ${table}`)).toEqual([])
      await eventually(async () =>
        (await backends(capped.applicationName)).every((b) => b.state !== 'active'),
      )
      expect(capped.gateway.tenants.get('main')!.pool.stats().poolInUse).toBe(0)
    } finally {
      await capped.close()
      await admin(`drop table ${table}`)
      await admin(`drop function ${table}_sleep()`)
    }
  })

  it("ends the transaction when PostgreSQL's own statement_timeout cancels a statement, as the gateway's timeout does", async () => {
    const tx = await begin()
    const query = (sql: string) => t.json(`/v1/transactions/${tx.id}/query`, { sql })
    expect((await query('insert into tx_probe values (7)')).status).toBe(200)
    expect((await query("set local statement_timeout = '50ms'")).status).toBe(200)
    const slow = await query('select pg_sleep(30)')
    expect(slow.status).toBe(504)
    expect(slow.body.error).toMatchObject({ code: 'STATEMENT_TIMEOUT', retryable: false })
    const after = await query('select 1')
    expect(after.status).toBe(404)
    expect(after.body.error.code).toBe('TX_NOT_FOUND')
    expect(after.body.error.message).toContain('its statement failed with STATEMENT_TIMEOUT')
    expect(await ids()).toEqual([])
    expect(await idleInTransaction()).toEqual([])
    expect(t.gateway.tenants.get('main')!.pool.stats().poolInUse).toBe(0)
  })

  it('caps open transactions at maxOpenShare of the pool, with TX_LIMIT_REACHED', async () => {
    const a = await begin()
    const b = await begin()
    const third = await t.json('/v1/transactions', {})
    expect(third.status).toBe(429)
    expect(third.body.error).toMatchObject({ code: 'TX_LIMIT_REACHED', retryable: true })
    expect(third.headers.get('retry-after')).toBe('1')
    // Single queries still get a connection.
    expect((await t.json('/v1/query', { sql: 'select 1' })).status).toBe(200)
    await t.json(`/v1/transactions/${a.id}/rollback`, {})
    await t.json(`/v1/transactions/${b.id}/rollback`, {})
  })

  it('expires at its own timeoutMs, capped at maxTimeoutMs, or at the default timeoutMs', async () => {
    const expiry = async (body: object) => {
      const before = Date.now()
      const tx = await begin(body)
      const after = Date.now()
      await t.json(`/v1/transactions/${tx.id}/rollback`, {})
      return { from: Date.parse(tx.expiresAt) - after, to: Date.parse(tx.expiresAt) - before }
    }
    const within = (window: { from: number; to: number }, ms: number) => {
      expect(window.from).toBeLessThanOrEqual(ms)
      expect(window.to).toBeGreaterThanOrEqual(ms)
    }
    within(await expiry({ timeoutMs: 1234 }), 1234)
    within(await expiry({ timeoutMs: 60_000 }), 60_000)
    within(await expiry({ timeoutMs: 60_001 }), 60_000)
    within(await expiry({ timeoutMs: 86_400_000 }), 60_000)
    within(await expiry({}), 5000)
  })

  it('caps a requested idleTimeoutMs at maxIdleTimeoutMs', async () => {
    const capped = await startTestGateway({
      pool: { min: 0, max: 4 },
      transactions: { maxOpenShare: 0.5, idleTimeoutMs: 300, maxIdleTimeoutMs: 500 },
    })
    try {
      const open = async (body: object) => {
        const res = await capped.json('/v1/transactions', body)
        expect(res.status).toBe(201)
        return res.body.id as string
      }
      const reason = async (id: string) =>
        (await capped.json(`/v1/transactions/${id}/query`, { sql: 'select 1' })).body.error.message
      // Two at once (the cap on open transactions here): the cap itself and one past it.
      const [atCap, pastCap] = await Promise.all([
        open({ idleTimeoutMs: 500 }),
        open({ idleTimeoutMs: 501 }),
      ])
      await eventually(() => capped.gateway.transactions.count() === 0)
      for (const id of [atCap, pastCap])
        expect(await reason(id)).toContain('idle for more than 500 ms')
      const own = await open({ idleTimeoutMs: 150 })
      await eventually(() => capped.gateway.transactions.count() === 0)
      expect(await reason(own)).toContain('idle for more than 150 ms')
    } finally {
      await capped.close()
    }
  })

  it('answers CONFLICT (409, retryable, 40P01) to the transaction a real deadlock aborts', async () => {
    await admin('insert into tx_probe values (1), (2)')
    const a = await begin()
    const b = await begin()
    const update = (tx: { id: string }, id: number) =>
      t.json(`/v1/transactions/${tx.id}/query`, {
        sql: 'update tx_probe set id = id where id = $1',
        params: [id],
      })
    expect((await update(a, 1)).status).toBe(200)
    expect((await update(b, 2)).status).toBe(200)
    const aWaits = update(a, 2)
    await eventually(
      async () =>
        (
          await admin(
            "select count(*)::int as n from pg_stat_activity where application_name = $1 and wait_event_type = 'Lock'",
            [t.applicationName],
          )
        )[0].n === 1,
    )
    // Each now waits for the other: PostgreSQL aborts one of them after deadlock_timeout.
    const answers = await Promise.all([aWaits, update(b, 1)])
    const failed = answers.filter((answer) => answer.status !== 200)
    expect(failed).toHaveLength(1)
    expect(failed[0]!.status).toBe(409)
    expect(failed[0]!.body.error).toMatchObject({
      code: 'CONFLICT',
      sqlstate: '40P01',
      retryable: true,
    })
    await t.json(`/v1/transactions/${a.id}/rollback`, {})
    await t.json(`/v1/transactions/${b.id}/rollback`, {})
  })
})
