import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import pg from 'pg'
import type { Config } from '../../../server/config/schema.js'
import { caught } from '../../helpers/caught.js'
import { admin, backends, databaseUrl, eventually } from '../../helpers/gateway.js'
import { pgClient, startWireGateway, type WireGateway } from '../../helpers/wire.js'

/** Sends a CancelRequest with the given key, as libpq's PQcancel does. */
function sendCancel(port: number, processId: number, secretKey: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      const packet = Buffer.alloc(16)
      packet.writeInt32BE(16, 0)
      packet.writeInt32BE(80877102, 4)
      packet.writeInt32BE(processId, 8)
      packet.writeInt32BE(secretKey, 12)
      socket.end(packet)
    })
    socket.on('close', () => resolve())
    socket.on('error', () => resolve())
  })
}

const pidOf = async (client: pg.Client) =>
  (await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid

describe('the PostgreSQL protocol with the pg driver', () => {
  let t: WireGateway
  const table = `wire_pg_${process.pid}`
  beforeAll(async () => {
    t = await startWireGateway({ pool: { min: 0, max: 3 } })
    await admin(`create table ${table} (id int primary key, name text)`)
  })
  afterAll(async () => {
    await admin(`drop table if exists ${table}`)
    await t?.close()
  })

  it('runs simple and extended queries with parameters, types and errors as PostgreSQL answers them', async () => {
    const client = await pgClient(t)
    try {
      const { rows, fields } = await client.query(
        "select 1::int4 as i, $1::text as t, '2024-01-02'::date as d, null::int as n",
        ['héllo'],
      )
      expect(rows).toEqual([{ i: 1, t: 'héllo', d: new Date(2024, 0, 2), n: null }])
      expect(fields.map((f) => f.name)).toEqual(['i', 't', 'd', 'n'])
      const error = await caught(() => client.query('select * from wire_missing_table'))
      expect(error.code).toBe('42P01')
      expect(error.position).toBe('15')
      // The session goes on after an error.
      expect((await client.query('select 2 as two')).rows).toEqual([{ two: 2 }])
      const multi = (await client.query(
        'select 1 as a; select 2 as b',
      )) as unknown as pg.QueryResult[]
      expect(multi.map((r) => r.rows[0])).toEqual([{ a: 1 }, { b: 2 }])
    } finally {
      await client.end()
    }
  })

  it('keeps a transaction on one backend, commits and rolls back, and returns the backend at its end', async () => {
    const client = await pgClient(t)
    const pool = t.gateway.tenants.get('main')!.pool
    try {
      await client.query('begin')
      const pid = await pidOf(client)
      await client.query(`insert into ${table} values (1, 'one')`)
      expect(pool.stats().poolInUse).toBe(1)
      expect(await pidOf(client)).toBe(pid)
      await client.query('commit')
      expect(pool.stats().poolInUse).toBe(0)
      await client.query('begin')
      await client.query(`insert into ${table} values (2, 'two')`)
      await client.query('rollback')
      const rows = await admin(`select id from ${table} order by id`)
      expect(rows).toEqual([{ id: 1 }])
    } finally {
      await client.end()
    }
  })

  it('prepares a named statement again on whichever backend runs it, and shares it between clients', async () => {
    const a = await pgClient(t)
    const holder = await pgClient(t)
    const c = await pgClient(t)
    const named = { name: 'by_id', text: `select name from ${table} where id = $1` }
    try {
      await a.query('begin')
      const first = await pidOf(a)
      expect((await a.query({ ...named, values: [1] })).rows).toEqual([{ name: 'one' }])
      await a.query('commit')
      // Hold that backend, so a's next transaction gets another one.
      await holder.query('begin')
      while ((await pidOf(holder)) !== first) {
        await holder.query('commit')
        await holder.query('begin')
      }
      await a.query('begin')
      expect(await pidOf(a)).not.toBe(first)
      // pg sends only Bind and Execute now: the gateway prepares it on this backend first.
      expect((await a.query({ ...named, values: [1] })).rows).toEqual([{ name: 'one' }])
      await a.query('commit')
      // Another client's Parse of the same text on that backend reuses it.
      await c.query('begin')
      expect((await c.query({ ...named, values: [1] })).rows).toEqual([{ name: 'one' }])
      const prepared = await c.query(
        "select count(*)::int as n from pg_prepared_statements where statement like 'select name from wire_pg%'",
      )
      expect(prepared.rows[0].n).toBe(1)
      await c.query('commit')
      await holder.query('commit')
      // A statement name the client never prepared is PostgreSQL's 26000, and the session goes on.
      await a.query('select 1')
    } finally {
      await Promise.all([a.end(), holder.end(), c.end()])
    }
  })

  it('cancels the statement a CancelRequest names, in that session only', async () => {
    const victim = await pgClient(t)
    const bystander = await pgClient(t)
    try {
      const { processID, secretKey } = victim as unknown as { processID: number; secretKey: number }
      const running = (n: number) =>
        eventually(
          async () =>
            (await backends(t.applicationName)).filter((b) => b.state === 'active').length === n,
        )
      // A wrong key cancels nothing: the statement it names runs to its end, which comes when
      // the test lets go of the lock it waits for.
      const holder = new pg.Client({ connectionString: databaseUrl() })
      await holder.connect()
      await holder.query('select pg_advisory_lock(4343)')
      const waiting = victim.query('select pg_advisory_xact_lock(4343)::text as locked')
      try {
        await running(1)
        await sendCancel(t.pgPort, processID, secretKey ^ 1)
      } finally {
        await holder.end()
      }
      expect((await waiting).rows).toEqual([{ locked: '' }])
      // The right key cancels the statement running in that session, and only that one.
      const slow = victim.query('select pg_sleep(10)')
      const calm = bystander.query('select pg_sleep(0.3) as slept')
      await running(2)
      await sendCancel(t.pgPort, processID, secretKey)
      const error = await caught(() => slow)
      expect(error.code).toBe('57014')
      expect((await calm).rows).toEqual([{ slept: '' }])
      expect((await victim.query('select 3 as three')).rows).toEqual([{ three: 3 }])
      // Where the session keeps its backend (here in a transaction, as psql's
      // ON_ERROR_ROLLBACK does it), its next statements are not taken for the cancelled one,
      // however long they run.
      await victim.query('begin; savepoint a')
      const sleeping = victim.query('select pg_sleep(10)')
      await running(1)
      await sendCancel(t.pgPort, processID, secretKey)
      expect((await caught(() => sleeping)).code).toBe('57014')
      await victim.query('rollback to a')
      expect((await victim.query('select pg_sleep(5.5)::text as slept')).rows).toEqual([
        { slept: '' },
      ])
      await victim.query('commit')
    } finally {
      await Promise.all([victim.end(), bystander.end()])
    }
  })
})

describe('session state on the wire', () => {
  let t: WireGateway
  beforeAll(async () => {
    // pool.max 4 × maxOpenShare 0.25: one session may be pinned at a time.
    t = await startWireGateway({
      pool: { min: 0, max: 4 },
      transactions: { maxOpenShare: 0.25 },
    })
  })
  afterAll(() => t?.close())

  it('pins a session that leaves state behind to its backend, and resets it when the session ends', async () => {
    const pinned = await pgClient(t)
    const other = await pgClient(t)
    try {
      await pinned.query("set timezone = 'Asia/Tokyo'")
      expect(t.gateway.wire.pinnedCount('main')).toBe(1)
      const pid = await pidOf(pinned)
      expect((await pinned.query('show timezone')).rows[0].TimeZone).toBe('Asia/Tokyo')
      expect(await pidOf(pinned)).toBe(pid)
      expect((await other.query('show timezone')).rows[0].TimeZone).toBe('UTC')
    } finally {
      await pinned.end()
    }
    await eventually(() => t.gateway.wire.pinnedCount() === 0)
    const pool = t.gateway.tenants.get('main')!.pool
    await eventually(() => pool.stats().poolInUse === 0)
    // Every backend is clean again.
    const clients = await Promise.all([1, 2, 3, 4].map(() => pgClient(t)))
    await Promise.all(clients.map((c) => c.query('begin')))
    const zones = await Promise.all(clients.map((c) => c.query('show timezone')))
    expect(zones.map((z) => z.rows[0].TimeZone)).toEqual(['UTC', 'UTC', 'UTC', 'UTC'])
    await Promise.all(clients.map((c) => c.query('commit')))
    await Promise.all([...clients.map((c) => c.end()), other.end()])
  })

  it('does not pin state that ends with the transaction (SET LOCAL, transaction locks)', async () => {
    const client = await pgClient(t)
    try {
      await client.query('begin')
      await client.query("set local timezone = 'Asia/Tokyo'")
      await client.query('select pg_advisory_xact_lock(42)')
      await client.query('commit')
      await client.query("select set_config('search_path', 'public', true)")
      expect(t.gateway.wire.pinnedCount()).toBe(0)
    } finally {
      await client.end()
    }
  })

  it('refuses to pin past the tenant cap with 53400 and resets the state it would have kept', async () => {
    const first = await pgClient(t)
    const second = await pgClient(t)
    try {
      await first.query('listen wire_one')
      expect(t.gateway.wire.pinnedCount('main')).toBe(1)
      const error = await caught(() => second.query('select pg_advisory_lock(7)'))
      expect(error.code).toBe('53400')
      expect(error.message).toContain('advisory locks')
      expect(t.gateway.wire.pinnedCount('main')).toBe(1)
      // The reset on release unlocked it.
      await eventually(
        async () =>
          (
            await admin<{ n: number }>(
              "select count(*)::int as n from pg_locks where locktype = 'advisory' and objid = 7",
            )
          )[0]!.n === 0,
      )
      // The refused session goes on, unpinned.
      expect((await second.query('select 1 as one')).rows).toEqual([{ one: 1 }])
    } finally {
      await Promise.all([first.end(), second.end()])
    }
  })

  it('delivers notifications to a pinned LISTEN session', async () => {
    const listener = await pgClient(t)
    const sender = await pgClient(t)
    try {
      const got = new Promise<pg.Notification>((resolve) => listener.on('notification', resolve))
      await listener.query('listen wire_news')
      await sender.query("select pg_notify('wire_news', 'hello')")
      const note = await got
      expect([note.channel, note.payload]).toEqual(['wire_news', 'hello'])
    } finally {
      await Promise.all([listener.end(), sender.end()])
    }
  })
})

describe('readonly tokens on the wire', () => {
  let t: WireGateway
  let client: pg.Client
  const table = `wire_ro_${process.pid}`
  beforeAll(async () => {
    t = await startWireGateway({ pool: { min: 0, max: 2 } })
    await admin(`create table ${table} (x int)`)
    client = await pgClient(t, t.readonlyToken)
  })
  afterAll(async () => {
    await client?.end()
    await admin(`drop table if exists ${table}`)
    await t?.close()
  })

  it('runs every statement in a READ ONLY transaction that PostgreSQL enforces', async () => {
    expect((await client.query('show transaction_read_only')).rows).toEqual([
      { transaction_read_only: 'on' },
    ])
    expect((await caught(() => client.query(`insert into ${table} values (1)`))).code).toBe('25006')
    expect((await caught(() => client.query(`insert into ${table} values ($1)`, [1]))).code).toBe(
      '25006',
    )
    await client.query('begin')
    expect((await caught(() => client.query('set transaction read write'))).code).toBe('25001')
    await client.query('rollback')
    await client.query('begin')
    await client.query('select 1')
    expect((await caught(() => client.query(`delete from ${table}`))).code).toBe('25006')
    await client.query('rollback')
    expect((await client.query('select 1 as one')).rows).toEqual([{ one: 1 }])
    expect(await admin(`select * from ${table}`)).toEqual([])
  })

  it('refuses what could end the READ ONLY transaction and run more before the gateway sees it, or leave it prepared', async () => {
    for (const sql of [
      `commit; insert into ${table} values (1)`,
      `select 1; rollback; insert into ${table} values (1)`,
      'commit and chain',
    ]) {
      const error = await caught(() => client.query(sql))
      expect(error.code).toBe('25006')
    }
    // Refused by the gateway (25006), not by PostgreSQL's max_prepared_transactions (55000).
    await client.query('begin')
    expect((await caught(() => client.query("prepare transaction 'ro'"))).code).toBe('25006')
    await client.query('rollback')
    expect(await admin(`select * from ${table}`)).toEqual([])
    expect((await client.query('select 2 as two')).rows).toEqual([{ two: 2 }])
  })

  it("refuses a COMMIT that the gateway's lexer would read as a comment or a string", async () => {
    for (const sql of [
      // PostgreSQL ends a -- comment at a carriage return too.
      `select 1 --\r; commit; insert into ${table} values (1)`,
      // A ROLLBACK TO later in the text does not make the earlier COMMIT harmless.
      `commit; insert into ${table} values (1); commit; rollback to s`,
    ]) {
      const error = await caught(() => client.query(sql))
      expect(error.code, JSON.stringify(sql)).toBe('25006')
    }
    // With standard_conforming_strings off, PostgreSQL reads \' in a string as a quote.
    await client.query('begin')
    await client.query('set local standard_conforming_strings = off')
    const hidden = `select 'a\\''; commit; insert into ${table} values (1) --'`
    expect((await caught(() => client.query(hidden))).code).toBe('25006')
    await client.query('rollback')
    expect(await admin(`select * from ${table}`)).toEqual([])
  })

  it('checks every unnamed statement of the extended protocol by its own text, right after an allowed one', async () => {
    const extended = (text: string) => client.query({ text, queryMode: 'extended' } as never)
    for (let i = 0; i < 2; i++) {
      expect(((await extended('select 1 as one')) as unknown as pg.QueryResult).rows).toEqual([
        { one: 1 },
      ])
      expect((await caught(() => extended('commit and chain'))).code).toBe('25006')
    }
    expect((await client.query('show transaction_read_only')).rows).toEqual([
      { transaction_read_only: 'on' },
    ])
  })
})

describe('wire sessions across a config reload', () => {
  it('ends a session whose token a reload removed, at its next transaction, with 28P01', async () => {
    let next: Config | undefined
    const t = await startWireGateway(
      { pool: { min: 0, max: 2 } },
      { loadConfig: async () => next! },
    )
    try {
      const revoked = await pgClient(t, t.readonlyToken)
      const kept = await pgClient(t)
      const metrics = await t.gateway.metrics.render()
      expect(metrics).toContain('sluice_wire_sessions{transport="tcp"} 2')
      const main = t.gateway.config.tenants.main!
      next = {
        ...t.gateway.config,
        tenants: { main: { ...main, tokens: main.tokens.filter((e) => e.role === 'readwrite') } },
      }
      await t.gateway.admin.reload()
      const error = await caught(() => revoked.query('select 1'))
      expect(error.code).toBe('28P01')
      expect((await kept.query('select 1 as one')).rows).toEqual([{ one: 1 }])
      await kept.end()
    } finally {
      await t.close()
    }
  })
})
