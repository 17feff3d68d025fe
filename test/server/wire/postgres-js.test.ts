import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { admin, backends, eventually } from '../../helpers/gateway.js'
import { startWireGateway, type WireGateway } from '../../helpers/wire.js'

// postgres.js pipelines its queries (several Parse/Bind/Execute/Sync before any answer) and
// prepares every statement under a name of its own: the hardest usual client to pool.

describe('postgres.js through the TCP listener', () => {
  let t: WireGateway
  let sql: postgres.Sql
  const table = `wire_pgjs_${process.pid}`
  beforeAll(async () => {
    t = await startWireGateway({ pool: { min: 0, max: 2 } })
    sql = postgres({ ...t.pgConfig(), user: 'main', password: t.token, max: 4 } as any)
    await admin(`create table ${table} (id int primary key, n int)`)
  })
  afterAll(async () => {
    await sql?.end({ timeout: 5 })
    await admin(`drop table if exists ${table}`)
    await t?.close()
  })

  it('answers pipelined prepared statements from four connections over two backends', async () => {
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => sql`select ${i}::int * 2 as double`),
    )
    expect(results.map((r) => r[0]!.double)).toEqual(Array.from({ length: 200 }, (_, i) => i * 2))
  })

  it('runs sql.begin transactions, committed or rolled back', async () => {
    await sql.begin(async (tx) => {
      await tx`insert into ${tx(table)} values (1, 10)`
      await tx`update ${tx(table)} set n = n + 1 where id = 1`
    })
    await expect(
      sql.begin(async (tx) => {
        await tx`update ${tx(table)} set n = 0 where id = 1`
        await tx`select 1/0`
      }),
    ).rejects.toMatchObject({ code: '22012' })
    expect(await sql`select n from ${sql(table)} where id = 1`).toEqual([{ n: 11 }])
  })

  it('cancels a running query with query.cancel()', async () => {
    const slow = sql`select pg_sleep(10)`
    const settled = slow.then(
      () => 'finished',
      (error: { code?: string }) => error.code,
    )
    await eventually(async () =>
      (await backends(t.applicationName)).some((b) => b.state === 'active'),
    )
    slow.cancel()
    expect(await settled).toBe('57014')
    expect(await sql`select 1 as one`).toEqual([{ one: 1 }])
  })

  it('keeps the pipeline in order when one query of it fails', async () => {
    const outcomes = await Promise.all(
      [1, 0, 2, 0, 3].map((d) =>
        sql`select 6 / ${d}::int as q`.then(
          (rows) => rows[0]!.q,
          (error: { code: string }) => error.code,
        ),
      ),
    )
    expect(outcomes).toEqual([6, '22012', 3, '22012', 2])
  })
})
