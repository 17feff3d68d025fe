/**
 * A statement the drain's end cuts off while its answer is still on the way: the cancel
 * request is lost (a TCP proxy drops it) and the connection is then lost too, so the
 * statement may have run, and committed. The answer is SHUTTING_DOWN with `retryable: false`
 * (never the usual `retryable: true`, which promises it never ran), and the edge client does
 * not send it again: the tests make the write commit while PostgreSQL's answer is held back,
 * so a retry would write twice.
 */
import pg from 'pg'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createClient, type Fetch } from '../../edge/index.js'
import { caught } from '../helpers/caught.js'
import {
  admin,
  databaseUrl,
  eventually,
  listenTestGateway,
  type ListeningGateway,
} from '../helpers/gateway.js'
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js'

const table = `cut_off_${process.pid}`
// Held by this file's own session while a COMMIT waits for it (a deferred trigger takes it).
const lockKey = 740_000 + (process.pid % 10_000)
const CUT_OFF = { code: 'SHUTTING_DOWN', retryable: false }

async function rowsOf(x: number): Promise<number> {
  const rows = await admin(`select count(*)::int as n from ${table} where x = $1`, [x])
  return rows[0].n
}

describe('a statement cut off by the end of the drain, its connection then lost', () => {
  let proxy: TcpProxy
  let t: ListeningGateway

  beforeAll(async () => {
    await admin(`create table ${table} (x int)`)
    // Rows of 100 and up make their COMMIT wait for the lock, so a test can hold it there.
    await admin(`create function ${table}_hold() returns trigger language plpgsql as $$
      begin
        if new.x >= 100 then perform pg_advisory_xact_lock(${lockKey}); end if;
        return null;
      end $$`)
    await admin(`create constraint trigger ${table}_hold after insert on ${table}
      deferrable initially deferred for each row execute function ${table}_hold()`)
  })
  afterAll(async () => {
    await admin(`drop table if exists ${table}`)
    await admin(`drop function if exists ${table}_hold()`)
  })

  /** A gateway whose one connection goes through a proxy that loses every cancel request. */
  async function start(tenant: { maxRows?: number } = {}): Promise<void> {
    proxy = await startTcpProxy({ dropCancels: true })
    t = await listenTestGateway({
      connection: { url: proxy.url },
      pool: { min: 0, max: 1 },
      ...tenant,
    })
    expect((await t.json('/v1/query', { sql: 'select 1' })).status).toBe(200)
    expect(proxy.links).toHaveLength(1)
    // The session reset that went out behind it answered too: a test may mute the link now.
    await eventually(() => proxy.links[0]!.quiet())
  }
  afterEach(async () => {
    await t.close()
    await proxy.close()
  })

  /**
   * Ends the drain at once, waits for its cancel request (which the proxy drops) and then
   * loses the statement's connection, as a network failure or the pool's destroy would.
   */
  async function cutOff(): Promise<Promise<void>> {
    const closing = t.gateway.close(0)
    await eventually(() => proxy.links.length > 1)
    proxy.links[0]!.cut()
    return closing
  }

  it('answers a single write that committed unanswered SHUTTING_DOWN, not retryable, and the edge client sends it once', async () => {
    await start()
    let calls = 0
    const fetch: Fetch = (url, init) => {
      calls++
      return globalThis.fetch(url, init)
    }
    const db = createClient({ url: t.url, token: t.token, fetch, retry: { baseDelayMs: 1 } })
    // PostgreSQL's answer never reaches the gateway: the write commits unanswered.
    proxy.links[0]!.mute()
    const answer = caught(db.query(`insert into ${table} values (1)`))
    await eventually(async () => (await rowsOf(1)) === 1)
    const closing = await cutOff()
    expect(await answer).toMatchObject(CUT_OFF)
    await closing
    expect(calls).toBe(1)
    expect(await rowsOf(1)).toBe(1)
  })

  it('answers a batch whose COMMIT went through unanswered SHUTTING_DOWN, not retryable', async () => {
    await start()
    const holder = new pg.Client({ connectionString: databaseUrl() })
    await holder.connect()
    try {
      await holder.query('select pg_advisory_lock($1)', [lockKey])
      const answer = fetch(`${t.url}/v1/batch`, {
        method: 'POST',
        headers: { authorization: `Bearer ${t.token}` },
        body: JSON.stringify({ statements: [{ sql: `insert into ${table} values (100)` }] }),
      })
      // Its COMMIT waits for the lock; then PostgreSQL's answers stop reaching the gateway.
      await eventually(async () => {
        const rows = await admin(
          "select 1 from pg_stat_activity where application_name = $1 and query = 'COMMIT' and wait_event = 'advisory'",
          [t.applicationName],
        )
        return rows.length === 1
      })
      proxy.links[0]!.mute()
      await holder.query('select pg_advisory_unlock($1)', [lockKey])
      await eventually(async () => (await rowsOf(100)) === 1)
      const closing = await cutOff()
      const res = await answer
      expect(res.status).toBe(503)
      expect(((await res.json()) as any).error).toMatchObject(CUT_OFF)
      await closing
    } finally {
      await holder.end()
    }
  })

  it('answers a write cut off at its row limit after the drain ended RESULT_TOO_LARGE, not retryable', async () => {
    await start({ maxRows: 5 })
    const holder = new pg.Client({ connectionString: databaseUrl() })
    await holder.connect()
    try {
      await holder.query('select pg_advisory_lock($1)', [lockKey])
      // Its rows come once the lock is free: after the drain ended and its cancel was lost.
      const answer = t.json('/v1/query', {
        sql: `insert into ${table} select g from pg_advisory_lock(${lockKey}) l, generate_series(-50, -1) g returning x`,
      })
      await eventually(async () => {
        const rows = await admin(
          "select 1 from pg_stat_activity where application_name = $1 and wait_event = 'advisory'",
          [t.applicationName],
        )
        return rows.length === 1
      })
      const closing = t.gateway.close(0)
      await eventually(() => proxy.links.length > 1)
      await holder.query('select pg_advisory_unlock($1)', [lockKey])
      // The connection is closed under it at the sixth row: the write may have committed.
      const { status, body } = await answer
      expect(status).toBe(413)
      expect(body.error).toMatchObject({ code: 'RESULT_TOO_LARGE', retryable: false })
      await closing
    } finally {
      await holder.end()
    }
  })

  it('still answers a statement the cancel stopped SHUTTING_DOWN, retryable', async () => {
    // The control: here PostgreSQL itself answers the cancel, so nothing ran.
    proxy = await startTcpProxy()
    t = await listenTestGateway({ connection: { url: proxy.url }, pool: { min: 0, max: 1 } })
    const answer = t.json('/v1/query', { sql: `insert into ${table} select 2 from pg_sleep(30)` })
    await eventually(async () => {
      const rows = await admin(
        "select 1 from pg_stat_activity where application_name = $1 and query like '%pg_sleep(30)%'",
        [t.applicationName],
      )
      return rows.length === 1
    })
    await t.gateway.close(0)
    const { status, body } = await answer
    expect(status).toBe(503)
    expect(body.error).toMatchObject({ code: 'SHUTTING_DOWN', retryable: true })
    expect(await rowsOf(2)).toBe(0)
  })
})
