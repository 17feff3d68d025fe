import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { admin, startTestGateway, type TestGateway } from '../../helpers/gateway.js'

// One connection (max 1), so a second request reuses the first one's backend: whatever the
// first left behind would show, unless the pool reset the session.
describe('session state', () => {
  let t: TestGateway
  beforeAll(async () => {
    t = await startTestGateway({ pool: { min: 1, max: 1 } })
  })
  afterAll(() => t.close())

  const one = async (sql: string) => {
    const { status, body } = await t.json('/v1/query', { sql })
    expect(status, JSON.stringify(body)).toBe(200)
    return body.rows[0]?.[0] ?? null
  }
  const resets = () => t.gateway.tenants.get('main')!.pool.stats().sessionResets

  it('reuses the same backend, so the checks below test the reset, not a new connection', async () => {
    expect(await one('select pg_backend_pid()::text')).toBe(
      await one('select pg_backend_pid()::text'),
    )
  })

  it('costs no reset after a plain statement', async () => {
    const before = resets()
    await one('select 1')
    await one("select 'set temp listen'::text") // words inside strings do not count
    expect(resets()).toBe(before)
  })

  it('undoes SET, back to the session defaults (TimeZone UTC)', async () => {
    await one("set timezone = 'America/New_York'")
    expect(await one('show timezone')).toBe('UTC')
    await one("select set_config('sluice.flag', 'on', false)")
    // RESET leaves a custom setting defined but empty.
    expect((await one("select current_setting('sluice.flag', true)")) ?? '').toBe('')
  })

  it('drops prepared statements', async () => {
    await one('prepare leaked as select 1')
    // The gateway's own statements (sluice_*) may stay; the caller's must not.
    expect(
      await one("select count(*)::int from pg_prepared_statements where name not like 'sluice%'"),
    ).toBe('0')
  })

  it('drops temp tables', async () => {
    await one('create temp table leaked_temp (x int)')
    expect(await one("select to_regclass('leaked_temp')::text")).toBeNull()
  })

  it('releases advisory locks', async () => {
    await one('select pg_advisory_lock(424242)')
    const locks = await admin(
      "select count(*)::int as n from pg_locks where locktype = 'advisory' and objid = 424242",
    )
    expect(locks[0].n).toBe(0)
  })

  it('forgets LISTEN', async () => {
    await one('listen leaked_channel')
    expect(await one('select count(*)::int from pg_listening_channels()')).toBe('0')
  })

  it('rolls back a transaction left open on the connection', async () => {
    const pool = t.gateway.tenants.get('main')!.pool
    const connection = await pool.acquire()
    await connection.simple('BEGIN')
    await connection.simple('CREATE TABLE left_open (x int)')
    expect(connection.transactionStatus).toBe('T')
    pool.release(connection)
    expect(await one("select to_regclass('left_open')::text")).toBeNull()
    expect(
      await one(
        "select count(*)::int from pg_stat_activity where state like 'idle in transaction%' and application_name = current_setting('application_name')",
      ),
    ).toBe('0')
  })

  it('refuses transaction control in /v1/query with a clear BAD_REQUEST', async () => {
    const { status, body } = await t.json('/v1/query', { sql: 'begin' })
    expect(status).toBe(400)
    expect(body.error.code).toBe('BAD_REQUEST')
    expect(body.error.message).toContain('/v1/transactions')
  })
})

describe("session state with resetMode 'always'", () => {
  it('resets after every request', async () => {
    const t = await startTestGateway({ pool: { min: 1, max: 1 }, session: { resetMode: 'always' } })
    try {
      const before = t.gateway.tenants.get('main')!.pool.stats().sessionResets
      await t.json('/v1/query', { sql: 'select 1' })
      await t.json('/v1/query', { sql: 'select 2' })
      expect(t.gateway.tenants.get('main')!.pool.stats().sessionResets).toBe(before + 2)
    } finally {
      await t.close()
    }
  })
})
