/**
 * The session reset of a wire transaction sent in the same write as the client's last Sync
 * (server/wire/client-cycle.ts, mayTakeReset), when nothing can keep the transaction open past
 * it: one write and one wake-up of PostgreSQL fewer per transaction, the next borrower still
 * finds a clean session, and a transaction the client opens is never touched by it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { admin, eventually } from '../../helpers/gateway.js'
import { RawClient, frontend } from '../../helpers/raw-pg.js'
import { startTcpProxy, type Link, type TcpProxy } from '../../helpers/tcp-proxy.js'
import { pgClient, startWireGateway, type WireGateway } from '../../helpers/wire.js'

// The gateway holds no named statement here: its reset is DISCARD ALL (session-reset.ts).
const RESET = Buffer.from('DISCARD ALL')

describe('the session reset behind a wire transaction', () => {
  let proxy: TcpProxy
  let t: WireGateway
  const fn = `wire_sneaky_${process.pid}`

  beforeAll(async () => {
    proxy = await startTcpProxy()
    // One backend: every transaction runs where the one before it ran.
    t = await startWireGateway({ connection: { url: proxy.url }, pool: { min: 1, max: 1 } })
    // Changes a setting where no scanner looks: only the reset can put it back.
    await admin(
      `create or replace function ${fn}() returns text language plpgsql as $$
       begin return set_config('work_mem', '77MB', false); end $$`,
    )
  })
  afterAll(async () => {
    await admin(`drop function if exists ${fn}()`)
    await t?.close()
    await proxy?.close()
  })

  /** The link of the pool's one connection, once everything sent on it was answered. */
  async function settledLink(): Promise<Link> {
    await eventually(() => proxy.links.at(-1)?.quiet() === true)
    return proxy.links.at(-1)!
  }

  /**
   * Writes of the gateway since `from` in which the reset came behind the client's messages
   * (a reset sent on its own is a write of one Query: its text at offset 5).
   */
  const resetBehindClient = (link: Link, from: number) =>
    link
      .chunks()
      .slice(from)
      .filter((chunk) => chunk.indexOf(RESET) > 5)

  /** Writes of the gateway since `from` that were a reset alone (the pool's own). */
  const resetAlone = (link: Link, from: number) =>
    link
      .chunks()
      .slice(from)
      .filter((chunk) => chunk.indexOf(RESET) === 5)

  it('goes in the same write as the Sync that ends the transaction, and is the only reset', async () => {
    const client = await pgClient(t)
    try {
      const link = await settledLink()
      const before = link.chunks().length
      for (let i = 0; i < 3; i++) {
        const { rows } = await client.query('select $1::int4 + 1 as n', [i])
        expect(rows).toEqual([{ n: i + 1 }])
      }
      await settledLink()
      expect(resetBehindClient(link, before)).toHaveLength(3)
      expect(resetAlone(link, before)).toHaveLength(0)
    } finally {
      await client.end()
    }
  })

  it('leaves the next transaction, of any session, a clean session', async () => {
    const first = await pgClient(t)
    const second = await pgClient(t)
    try {
      const link = await settledLink()
      const before = link.chunks().length
      for (const client of [first, second, first]) {
        const { rows } = await client.query(`select ${fn}() as v, current_setting('work_mem') as w`)
        expect(rows[0].w).toBe('77MB')
        const after = await client.query("select current_setting('work_mem') as w")
        expect(after.rows[0].w).not.toBe('77MB')
      }
      // The setting was changed by a statement the session did not flag: the reset that put
      // it back was the one sent behind the statement's Sync.
      expect(resetBehindClient(link, before).length).toBeGreaterThanOrEqual(3)
    } finally {
      await first.end()
      await second.end()
    }
  })

  it('never follows a Sync that may leave a transaction open, which then works as usual', async () => {
    const client = await pgClient(t)
    try {
      const link = await settledLink()
      const before = link.chunks().length
      // A transaction begun behind another statement, then one begun by a statement whose
      // text only mentions the word: both go on, committed, and nothing was reset inside.
      await client.query(`select 1; begin`)
      await client.query("select set_config('work_mem', '66MB', true)")
      await client.query(`select 'begin' as word`)
      expect((await client.query("select current_setting('work_mem') as w")).rows[0].w).toBe('66MB')
      await client.query('commit')
      await client.query(`select 2 /* start */`)
      await settledLink()
      expect(resetBehindClient(link, before)).toHaveLength(0)
      // The session is fine afterwards, and takes the reset with its Sync again.
      expect((await client.query('select $1::int4 as n', [7])).rows).toEqual([{ n: 7 }])
      await settledLink()
      expect(resetBehindClient(link, before)).toHaveLength(1)
    } finally {
      await client.end()
    }
  })
})

describe('the session reset behind a wire transaction, where the gateway holds named statements', () => {
  let t: WireGateway
  const fn = `wire_hijack_${process.pid}`

  beforeAll(async () => {
    // prepareThreshold 0: every /v1/query statement is named, so the reset is the long one,
    // which counts the statements PREPAREd from SQL.
    t = await startWireGateway({ pool: { min: 1, max: 1, prepareThreshold: 0 } })
    // Takes the name of one of the gateway's statements, where no scanner looks.
    await admin(
      `create or replace function ${fn}(name text) returns int language plpgsql as $$
       begin
         execute format('deallocate %I', name);
         execute format('prepare %I as select 666 as n', name);
         return 1;
       end $$`,
    )
    // Drops one of them, where no scanner looks; harmless to a readonly transaction.
    await admin(
      `create or replace function ${fn}_drop(statement text) returns int language plpgsql as $$
       declare n text;
       begin
         select name into n from pg_prepared_statements where pg_prepared_statements.statement = $1;
         execute format('deallocate %I', n);
         return 1;
       end $$`,
    )
  })
  afterAll(async () => {
    await admin(`drop function if exists ${fn}_drop(text)`)
    await admin(`drop function if exists ${fn}(text)`)
    await t?.close()
  })

  it("drops a statement PREPAREd from SQL before the connection is lent again, so it cannot stand in for the gateway's", async () => {
    const probe = 'select 1 as n'
    expect((await t.json('/v1/query', { sql: probe })).body.rows).toEqual([['1']])
    const named = await t.json('/v1/query', {
      sql: `select name from pg_prepared_statements where statement = '${probe}' and not from_sql`,
    })
    const name = named.body.rows[0]?.[0]
    expect(name).toMatch(/^sluice_/)
    const client = await pgClient(t)
    try {
      expect((await client.query(`select ${fn}($1) as r`, [name])).rows).toEqual([{ r: 1 }])
    } finally {
      await client.end()
    }
    expect((await t.json('/v1/query', { sql: probe })).body.rows).toEqual([['1']])
    expect((await t.json('/v1/query', { sql: probe })).body.rows).toEqual([['1']])
  })

  it("notices a statement of the gateway's that a client deallocated, and the next client of the backend still runs it", async () => {
    // Readonly: the pool's own reset; readwrite: the reset sent behind the client's last Sync.
    for (const [i, token] of [t.readonlyToken, t.token].entries()) {
      const text = `select ${i} as n`
      const first = await RawClient.connect(t.pgPort, token)
      first.send(frontend.parse('s', text), frontend.bind('', 's'), frontend.execute())
      first.send(frontend.sync())
      expect(await first.cycle()).toMatchObject({ errors: [] })
      first.send(frontend.query(`select ${fn}_drop('${text}')`))
      expect(await first.cycle()).toMatchObject({ errors: [] })
      first.send(frontend.terminate())
      await first.closed
      const next = await RawClient.connect(t.pgPort, t.token)
      next.send(frontend.parse('s', text), frontend.bind('', 's'), frontend.execute())
      next.send(frontend.sync())
      expect(await next.cycle()).toMatchObject({ types: '12DCZ', errors: [] })
      next.send(frontend.terminate())
      await next.closed
    }
  })
})
