import { fileURLToPath } from 'node:url'
import { unstable_startWorker } from 'wrangler'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { admin, type ListeningGateway, listenTestGateway } from '../../helpers/gateway.js'

// The example Worker in real workerd (wrangler's local runtime), against a real gateway on
// a real PostgreSQL. Starting workerd takes a few seconds, so one Worker serves every test.
describe('the example Worker in workerd', () => {
  let t: ListeningGateway
  let worker: Awaited<ReturnType<typeof unstable_startWorker>>
  const table = `worker_items_${process.pid}`

  const post = (path: string, body: unknown, token = t.token) =>
    worker.fetch(`http://worker.test${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    })

  beforeAll(async () => {
    t = await listenTestGateway()
    await admin(`create table ${table} (id int primary key, title text not null)`)
    worker = await unstable_startWorker({
      config: fileURLToPath(new URL('../../../wrangler.toml', import.meta.url)),
      sendMetrics: false,
      bindings: {
        SLUICE_URL: { type: 'plain_text', value: t.url },
        SLUICE_TOKEN: { type: 'plain_text', value: t.token },
      },
      dev: {
        server: { hostname: '127.0.0.1', port: 0 },
        inspector: false,
        watch: false,
        persist: false,
        logLevel: 'error',
      },
    })
    await worker.ready
  }, 120_000)

  afterAll(async () => {
    await worker?.dispose()
    await admin(`drop table if exists ${table}`)
    await t?.close()
  })

  it('round-trips a query with parameters and typed values', async () => {
    const res = await worker.fetch('http://worker.test/')
    expect(res.status).toBe(200)
    const { now, version } = (await res.json()) as any
    const [direct] = await admin(`select current_setting('server_version') as version`)
    expect(version).toBe(direct.version)
    expect(new Date(now).getTime()).not.toBeNaN()

    const query = await post('/query', {
      sql: 'select $1::int8 + 1 as big, $2::text as s, $3::int4[] as a',
      params: ['9007199254740993', 'é"\\', [1, null, 3]],
    })
    expect(query.status).toBe(200)
    expect(await query.json()).toEqual({
      command: 'SELECT',
      rowCount: 1,
      rows: [{ big: '9007199254740994', s: 'é"\\', a: [1, null, 3] }],
    })
  })

  it('passes a database error on with its code and SQLSTATE', async () => {
    const res = await post('/query', { sql: 'select * from no_such_table' })
    expect(res.status).toBe(400)
    expect(await res.json()).toMatchObject({
      error: { code: 'DATABASE_ERROR', sqlstate: '42P01' },
    })
  })

  it('runs a batch as one transaction: all or nothing', async () => {
    const failed = await post('/batch', {
      statements: [
        { sql: `insert into ${table} values ($1, $2)`, params: [1, 'one'] },
        { sql: `insert into ${table} values ($1, $2)`, params: [2, null] },
      ],
    })
    expect(failed.status).toBe(400)
    expect(await failed.json()).toMatchObject({ error: { sqlstate: '23502', statementIndex: 1 } })
    expect(await admin(`select * from ${table}`)).toEqual([])

    const ok = await post('/batch', {
      statements: [
        { sql: `insert into ${table} values ($1, $2)`, params: [1, 'one'] },
        { sql: `insert into ${table} values ($1, $2)`, params: [2, 'two'] },
        { sql: `select count(*)::int4 as n from ${table}` },
      ],
    })
    expect(ok.status).toBe(200)
    const { results } = (await ok.json()) as any
    expect(results.map((r: any) => r.command)).toEqual(['INSERT', 'INSERT', 'SELECT'])
    expect(results[2].rows).toEqual([{ n: 2 }])
  })

  it('runs an interactive transaction and rolls it back when a statement fails', async () => {
    const res = await post('/transaction', {
      statements: [
        { sql: `insert into ${table} values ($1, $2)`, params: [10, 'ten'] },
        { sql: `insert into ${table} values ($1, $2)`, params: [10, 'again'] },
      ],
    })
    expect(res.status).toBe(400)
    expect(await res.json()).toMatchObject({ error: { sqlstate: '23505' } })
    expect(await admin(`select * from ${table} where id = 10`)).toEqual([])
  })

  it('runs without nodejs_compat', () => {
    expect(worker.config.compatibilityFlags ?? []).not.toContain('nodejs_compat')
    expect(worker.config.build.nodejsCompatMode).toBe(null)
  })

  it('refuses to relay without the gateway token', async () => {
    const res = await post('/query', { sql: 'select 1' }, 'not-the-token')
    expect(res.status).toBe(401)
  })
})
