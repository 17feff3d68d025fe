/**
 * Several workers on one node, over real sockets against `sluice serve` (two workers, one
 * process each): a transaction's requests find the worker that holds it whichever worker
 * their connection lands on, streams and cancellation included; /metrics and the admin API
 * speak for every worker; the PostgreSQL protocol's cancel requests find their session; a
 * worker killed mid-transaction is restarted and its transaction answers TX_NOT_FOUND with
 * the reason, leaving no backend idle in transaction. One gateway for the whole file.
 */
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { request, type Agent } from 'node:http'
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ownerOf } from '../../../server/cluster/transaction-id.js'
import { freePort } from '../../../server/embedded/free-port.js'
import type { ConfigInput } from '../../../server/config/schema.js'
import { killChildren } from '../../helpers/cli.js'
import {
  agentOnWorker,
  call,
  metricValue,
  startNode,
  type NodeProcess,
} from '../../helpers/cluster.js'
import { admin, databaseUrl, eventually, newToken } from '../../helpers/gateway.js'

const ADMIN = newToken()
const token = newToken()
const readonlyToken = newToken()
const applicationName = `sluice-workers-${newToken().slice(0, 8).toLowerCase()}`
const table = `workers_rows_${process.pid}`
const ORIGIN = 'https://app.example'

function config(port: number, pgPort: number, extraTokens: { token: string }[] = []): ConfigInput {
  return {
    server: {
      port,
      pgPort,
      workers: 2,
      adminToken: ADMIN,
      drainGraceMs: 500,
      log: { level: 'warn' },
    },
    tenants: {
      main: {
        connection: { url: databaseUrl() },
        allowPrivilegedRole: true,
        pool: { min: 0, max: 8, acquireTimeoutMs: 1500 },
        tokens: [{ token }, { token: readonlyToken, role: 'readonly' }, ...extraTokens],
        session: { applicationName },
        cors: { origins: [ORIGIN] },
      },
    },
  }
}

/** The workers of the node, by index: their pids. */
async function workerPids(base: string): Promise<Map<number, number>> {
  const answer = await call(base, '/admin/nodes', undefined, { token: ADMIN, timeoutMs: 2000 })
  return new Map(answer.body.nodes[0].workerList.map((w: any) => [w.index, w.pid]))
}

async function forwarded(base: string): Promise<number> {
  const text = (await call(base, '/metrics')).body as string
  return metricValue(text, 'sluice_forwarded_requests_total', { outcome: 'answered' })
}

/**
 * The count once earlier forwards have all been counted: a forward is counted when the
 * owner's answer has ended, which can come just after the client has read the answer.
 */
async function forwardedSettled(base: string): Promise<number> {
  let last = await forwarded(base)
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    const now = await forwarded(base)
    if (now === last) return now
    last = now
  }
}

describe('a node with two workers', () => {
  let dir: string
  let node: NodeProcess
  let port: number
  let pgPort: number
  let one: Agent
  let two: Agent
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-workers-'))
    await admin(`create table if not exists ${table} (id int)`)
    port = await freePort()
    pgPort = await freePort()
    node = await startNode(join(dir, 'sluice.json'), config(port, pgPort))
    one = await agentOnWorker(node.base, token, 1)
    two = await agentOnWorker(node.base, token, 2)
  })
  afterAll(async () => {
    one?.destroy()
    two?.destroy()
    expect(await node?.stop()).toBe(0)
    killChildren()
    await rm(dir, { recursive: true, force: true })
    await admin(`drop table if exists ${table}`)
  })

  it('commits through the other worker a transaction begun on one, each request answered as if local', async () => {
    const before = await forwarded(node.base)
    const begun = await call(node.base, '/v1/transactions', {}, { token, agent: one })
    expect(begun.status).toBe(201)
    expect(ownerOf(begun.body.id)?.worker).toBe(1)
    const id = begun.body.id
    const inserted = await call(
      node.base,
      `/v1/transactions/${id}/query`,
      { sql: `insert into ${table} values (1), (2)` },
      { token, agent: two },
    )
    expect(inserted.status).toBe(200)
    expect(inserted.body.rowCount).toBe(2)
    // Fresh connections, whichever worker they land on, see the same transaction.
    for (let i = 0; i < 3; i++) {
      const seen = await call(
        node.base,
        `/v1/transactions/${id}/query`,
        { sql: `select count(*)::int as n from ${table}` },
        { token },
      )
      expect(seen.body.rows).toEqual([[`2`]])
    }
    // A database error reads the same through the other worker.
    const failed = await call(
      node.base,
      `/v1/transactions/${id}/query`,
      { sql: 'select 1/0' },
      { token, agent: two },
    )
    expect(failed.status).toBe(400)
    expect(failed.body.error.code).toBe('DATABASE_ERROR')
    expect(failed.body.error.message).toMatch(/transaction is now aborted/)
    expect(failed.headers['x-request-id']).toBeDefined()
    const rolled = await call(
      node.base,
      `/v1/transactions/${id}/rollback`,
      {},
      { token, agent: two },
    )
    expect(rolled.body).toEqual({ committed: false })

    const again = await call(node.base, '/v1/transactions', {}, { token, agent: one })
    await call(
      node.base,
      `/v1/transactions/${again.body.id}/query`,
      { sql: `insert into ${table} values (3)` },
      { token, agent: two },
    )
    const committed = await call(
      node.base,
      `/v1/transactions/${again.body.id}/commit`,
      {},
      { token, agent: two },
    )
    expect(committed.body).toEqual({ committed: true })
    // Ended on worker 1, asked on worker 2: only its own token learns how.
    const after = await call(
      node.base,
      `/v1/transactions/${again.body.id}/commit`,
      {},
      { token, agent: two },
    )
    expect(after.status).toBe(404)
    expect(after.body.error.message).toMatch(/is over: it was committed/)
    expect((await admin(`select id from ${table} order by id`)).map((r) => r.id)).toEqual([3])
    expect(await forwarded(node.base)).toBeGreaterThanOrEqual(before + 5)
  })

  it('forwards nothing for a token that did not begin the transaction, and refuses forged peer credentials', async () => {
    const begun = await call(node.base, '/v1/transactions', {}, { token, agent: one })
    const id = begun.body.id
    const before = await forwardedSettled(node.base)
    try {
      const other = await call(
        node.base,
        `/v1/transactions/${id}/query`,
        { sql: 'select 1' },
        { token: readonlyToken, agent: two },
      )
      expect(other.status).toBe(404)
      expect(other.body.error).toMatchObject({
        code: 'TX_NOT_FOUND',
        message: `no open transaction ${id} for this token`,
      })
      const anonymous = await call(
        node.base,
        `/v1/transactions/${id}/query`,
        { sql: 'select 1' },
        { agent: two },
      )
      expect(anonymous.status).toBe(401)
      const forged = await call(
        node.base,
        `/v1/transactions/${id}/query`,
        { sql: 'select 1' },
        {
          token,
          agent: two,
          headers: { 'x-sluice-forwarded': 'worker 0000' },
        },
      )
      expect(forged.status).toBe(401)
      expect(forged.body.error.code).toBe('UNAUTHORIZED')
      // A changed id (its tag no longer matches) is refused where it lands.
      const tampered = `${id.slice(0, -2)}${id.endsWith('AA') ? 'AB' : 'AA'}`
      const wrong = await call(
        node.base,
        `/v1/transactions/${tampered}/query`,
        { sql: 'select 1' },
        { token, agent: two },
      )
      expect(wrong.body.error.message).toBe(`no open transaction ${tampered} for this token`)
      expect(await forwardedSettled(node.base)).toBe(before)
    } finally {
      // Open, it would hold a connection and keep the next test's pause from settling.
      await call(node.base, `/v1/transactions/${id}/rollback`, {}, { token, agent: one })
    }
  })

  it("answers a forwarded request's own errors with the tenant's CORS headers, as a local one's", async () => {
    const begun = await call(node.base, '/v1/transactions', {}, { token, agent: one })
    const id = begun.body.id
    const headers = { origin: ORIGIN }
    try {
      // Refused by the worker it lands on (another token; no token), never forwarded.
      for (const options of [{ token: readonlyToken }, {}]) {
        const [local, elsewhere] = await Promise.all(
          [one, two].map((agent) =>
            call(
              node.base,
              `/v1/transactions/${id}/query`,
              { sql: 'select 1' },
              { ...options, agent, headers },
            ),
          ),
        )
        expect(elsewhere!.status).toBe(local!.status)
        expect(elsewhere!.headers['access-control-allow-origin']).toBe(ORIGIN)
        expect(elsewhere!.headers['access-control-expose-headers']).toBe(
          local!.headers['access-control-expose-headers'],
        )
      }
      // Its own answer, forwarded, carries them too.
      const answered = await call(
        node.base,
        `/v1/transactions/${id}/query`,
        { sql: 'select 1' },
        { token, agent: two, headers },
      )
      expect(answered.status).toBe(200)
      expect(answered.headers['access-control-allow-origin']).toBe(ORIGIN)
    } finally {
      await call(node.base, `/v1/transactions/${id}/rollback`, {}, { token, agent: one })
    }
  })

  it("streams a transaction's rows through the other worker at the client's pace", async () => {
    const begun = await call(node.base, '/v1/transactions', {}, { token, agent: one })
    const id = begun.body.id
    // 40 MB of rows: far more than every socket buffer on the way holds.
    const sql = "select g, repeat('x', 1000) as pad from generate_series(1, 40000) g"
    let received = 0
    let lines = ''
    let paused!: () => void
    const pausedOnce = new Promise<void>((resolve) => (paused = resolve))
    const done = new Promise<void>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          path: `/v1/transactions/${id}/query`,
          method: 'POST',
          agent: two,
          headers: { authorization: `Bearer ${token}`, accept: 'application/x-ndjson' },
        },
        (res) => {
          res.once('data', () => {
            res.pause()
            paused()
          })
          res.on('data', (chunk: Buffer) => {
            received += chunk.length
            lines = (lines + chunk.toString('latin1')).slice(-200)
          })
          res.on('end', () => resolve())
          res.on('error', reject)
          ;(globalThis as any).resumeStream = () => res.resume()
        },
      )
      req.on('error', reject)
      req.end(JSON.stringify({ sql }))
    })
    await pausedOnce
    // The client reads nothing: PostgreSQL ends up waiting to write (nothing buffered it all).
    await eventually(async () => {
      const rows = await admin(
        "select wait_event from pg_stat_activity where application_name = $1 and state = 'active' and query like '%generate_series(1, 40000)%'",
        [applicationName],
      )
      return rows.some((r) => r.wait_event === 'ClientWrite')
    }, 15_000)
    ;(globalThis as any).resumeStream()
    await done
    expect(received).toBeGreaterThan(40_000 * 1000)
    expect(lines).toMatch(/"command":"SELECT","rowCount":40000}\n$/)
    const ended = await call(node.base, `/v1/transactions/${id}/commit`, {}, { token, agent: two })
    expect(ended.body).toEqual({ committed: true })
  })

  it("cancels the owner's statement when the client goes away during a forwarded request", async () => {
    const begun = await call(node.base, '/v1/transactions', {}, { token, agent: one })
    const id = begun.body.id
    // A connection of its own on worker 2: going away closes it.
    const leaving = await agentOnWorker(node.base, token, 2)
    const req = request({
      host: '127.0.0.1',
      port,
      path: `/v1/transactions/${id}/query`,
      method: 'POST',
      agent: leaving,
      headers: { authorization: `Bearer ${token}` },
    })
    req.on('error', () => {})
    req.end(JSON.stringify({ sql: 'select pg_sleep(30) as forwarded_sleep' }))
    const sleeping = () =>
      admin(
        "select pid from pg_stat_activity where application_name = $1 and state = 'active' and query like '%forwarded_sleep%'",
        [applicationName],
      )
    await eventually(async () => (await sleeping()).length === 1)
    req.destroy()
    leaving.destroy()
    await eventually(async () => (await sleeping()).length === 0)
    const gone = await call(
      node.base,
      `/v1/transactions/${id}/query`,
      { sql: 'select 1' },
      { token, agent: one },
    )
    expect(gone.status).toBe(404)
    expect(gone.body.error.message).toMatch(/its client went away during a statement/)
  })

  it('adds up every worker in /metrics, labelled with the node', async () => {
    const route = { route: '/v1/query', status: '200' }
    const before = metricValue(
      (await call(node.base, '/metrics')).body,
      'sluice_http_requests_total',
      route,
    )
    // Fresh connections: the workers take them in turn.
    for (let i = 0; i < 10; i++) await call(node.base, '/v1/query', { sql: 'select 1' }, { token })
    const text = (await call(node.base, '/metrics')).body as string
    expect(metricValue(text, 'sluice_http_requests_total', route)).toBe(before + 10)
    expect(text).toContain(`node="127.0.0.1:${port}"`)
    // The two workers' shares add up to the configured pool.
    expect(metricValue(text, 'sluice_pool_max_connections', { tenant: 'main' })).toBe(8)
  })

  it('pauses, resumes and reports the tenant on every worker, and reloads them all', async () => {
    const paused = await call(
      node.base,
      '/admin/tenants/main/pause?waitMs=2000',
      {},
      { token: ADMIN },
    )
    expect(paused.status).toBe(200)
    expect(paused.body).toMatchObject({ name: 'main', paused: true, settled: true })
    expect(paused.body.pool.poolMax).toBe(8)
    expect(paused.body.nodes).toEqual([{ node: `127.0.0.1:${port}`, ok: true, workers: 2 }])
    // Both workers hold their requests, until their acquire timeout.
    const held = await Promise.all(
      [one, two].map((agent) =>
        call(node.base, '/v1/query', { sql: 'select 1' }, { token, agent }),
      ),
    )
    expect(held.map((a) => a.body.error?.code)).toEqual(['TENANT_PAUSED', 'TENANT_PAUSED'])
    const resumed = await call(node.base, '/admin/tenants/main/resume', {}, { token: ADMIN })
    expect(resumed.body.paused).toBe(false)
    const served = await Promise.all(
      [one, two].map((agent) =>
        call(node.base, '/v1/query', { sql: 'select 1 as n' }, { token, agent }),
      ),
    )
    expect(served.map((a) => a.status)).toEqual([200, 200])

    // A new token in the file works on both workers once reloaded.
    const added = newToken()
    await writeFile(node.file, JSON.stringify(config(port, pgPort, [{ token: added }])))
    const reloaded = await call(node.base, '/admin/reload', {}, { token: ADMIN })
    expect(reloaded.status).toBe(200)
    expect(reloaded.body.updated).toEqual(['main'])
    const withNew = await Promise.all(
      [one, two].map((agent) =>
        call(node.base, '/v1/query', { sql: 'select 1' }, { token: added, agent }),
      ),
    )
    expect(withNew.map((a) => a.status)).toEqual([200, 200])
  })

  it('refuses, on every worker, a reload the node could not start with, and keeps the old config', async () => {
    const tooSmall = config(port, pgPort)
    tooSmall.tenants!.main!.pool = { min: 0, max: 1, acquireTimeoutMs: 1500 }
    const reloads = async () => {
      const text = (await call(node.base, '/metrics')).body as string
      return ['ok', 'invalid'].map((result) =>
        metricValue(text, 'sluice_config_reloads_total', { result }),
      )
    }
    const [ok, invalid] = await reloads()
    try {
      await writeFile(node.file, JSON.stringify(tooSmall))
      const refused = await call(node.base, '/admin/reload', {}, { token: ADMIN })
      expect(refused.status).toBe(400)
      expect(refused.body.problems).toEqual([
        expect.stringMatching(/^tenants\.main\.pool\.max \(1\) is less than the 2 workers/),
      ])
      await node.child.printed('config reload refused', 10_000)
      // Both workers still hold their share of the old pool, and serve.
      const text = (await call(node.base, '/metrics')).body as string
      expect(metricValue(text, 'sluice_pool_max_connections', { tenant: 'main' })).toBe(8)
      const served = await Promise.all(
        [one, two].map((agent) =>
          call(node.base, '/v1/query', { sql: 'select 1' }, { token, agent }),
        ),
      )
      expect(served.map((a) => a.status)).toEqual([200, 200])
    } finally {
      await writeFile(node.file, JSON.stringify(config(port, pgPort)))
      expect((await call(node.base, '/admin/reload', {}, { token: ADMIN })).status).toBe(200)
    }
    // One refused and one applied, each counted once for the node (not once per worker).
    expect(await reloads()).toEqual([ok! + 1, invalid! + 1])
  })

  it("serves the other workers' series, saying which are missing, when a worker does not answer a scrape", async () => {
    const route = { route: '/v1/query', status: '200' }
    const pids = await workerPids(node.base)
    process.kill(pids.get(2)!, 'SIGSTOP')
    try {
      const scraped = await call(node.base, '/metrics', undefined, { agent: one })
      expect(scraped.status).toBe(200)
      const text = scraped.body as string
      expect(
        metricValue(text, 'sluice_metrics_workers_missing', { node: `127.0.0.1:${port}` }),
      ).toBe(1)
      // Worker 1's own series are there, its share of the pool alone.
      expect(metricValue(text, 'sluice_pool_max_connections', { tenant: 'main' })).toBe(4)
      expect(metricValue(text, 'sluice_http_requests_total', route)).toBeGreaterThan(0)
      await node.child.printed('metrics: a worker did not send its series', 10_000)
    } finally {
      process.kill(pids.get(2)!, 'SIGCONT')
    }
    const whole = (await call(node.base, '/metrics', undefined, { agent: one })).body as string
    expect(metricValue(whole, 'sluice_metrics_workers_missing')).toBe(0)
    expect(metricValue(whole, 'sluice_pool_max_connections', { tenant: 'main' })).toBe(8)
  })

  it('sends a PostgreSQL protocol cancel request to the worker that holds the session', async () => {
    const clients = [] as pg.Client[]
    for (let i = 0; i < 2; i++) {
      const client = new pg.Client({
        host: '127.0.0.1',
        port: pgPort,
        user: 'main',
        password: token,
        database: 'x',
      })
      client.on('error', () => {})
      await client.connect()
      clients.push(client)
    }
    try {
      const keys = clients.map((c) => c as unknown as { processID: number; secretKey: number })
      // The two sessions are on the two workers (their process ids end with the worker's index).
      expect(new Set(keys.map((k) => k.processID & 0xff))).toEqual(new Set([1, 2]))
      const running = clients.map((c) =>
        c.query('select pg_sleep(30)').catch((error: unknown) => error),
      )
      await eventually(
        async () =>
          (
            await admin(
              "select 1 from pg_stat_activity where application_name = $1 and query = 'select pg_sleep(30)' and state = 'active'",
              [applicationName],
            )
          ).length === 2,
      )
      // Each cancel request on a new connection. The workers take new connections in turn,
      // so in this order each lands on the worker that does not hold its session.
      for (const key of [...keys].reverse()) {
        await new Promise<void>((resolve) => {
          const socket = connect(pgPort, '127.0.0.1', () => {
            const packet = Buffer.alloc(16)
            packet.writeInt32BE(16, 0)
            packet.writeInt32BE(80877102, 4)
            packet.writeInt32BE(key.processID, 8)
            packet.writeInt32BE(key.secretKey, 12)
            socket.end(packet)
          })
          socket.on('close', () => resolve())
          socket.on('error', () => resolve())
        })
      }
      const errors = (await Promise.all(running)) as { code?: string }[]
      expect(errors.map((e) => e.code)).toEqual(['57014', '57014'])
    } finally {
      await Promise.all(clients.map((c) => c.end().catch(() => {})))
    }
  })

  it('restarts a worker killed mid-transaction: its transaction answers TX_NOT_FOUND with the reason, and no backend stays idle in transaction', async () => {
    const onTwo = await agentOnWorker(node.base, token, 2)
    const begun = await call(node.base, '/v1/transactions', {}, { token, agent: onTwo })
    const id = begun.body.id
    await call(
      node.base,
      `/v1/transactions/${id}/query`,
      { sql: `insert into ${table} values (99)` },
      { token, agent: onTwo },
    )
    onTwo.destroy()
    expect(ownerOf(id)?.worker).toBe(2)
    const pids = await workerPids(node.base)
    const victim = pids.get(2)!
    process.kill(victim, 'SIGKILL')
    // The primary notices and starts a new worker 2.
    await eventually(async () => {
      try {
        const now = await workerPids(node.base)
        return now.get(2) !== undefined && now.get(2) !== victim
      } catch {
        return false
      }
    }, 20_000)
    for (const agent of [one, undefined]) {
      const lost = await call(
        node.base,
        `/v1/transactions/${id}/query`,
        { sql: 'select 1' },
        { token, ...(agent ? { agent } : {}) },
      )
      expect(lost.status).toBe(404)
      expect(lost.body.error.code).toBe('TX_NOT_FOUND')
      expect(lost.body.error.message).toMatch(
        new RegExp(
          `worker 2, pid ${victim}\\) was killed \\(SIGKILL\\).*PostgreSQL rolled it back`,
        ),
      )
    }
    // Another token learns nothing of it.
    const other = await call(
      node.base,
      `/v1/transactions/${id}/query`,
      { sql: 'select 1' },
      { token: readonlyToken },
    )
    expect(other.body.error.message).toBe(`no open transaction ${id} for this token`)
    await eventually(
      async () =>
        (
          await admin(
            "select 1 from pg_stat_activity where application_name = $1 and state like 'idle in transaction%'",
            [applicationName],
          )
        ).length === 0,
    )
    expect(await admin(`select id from ${table} where id = 99`)).toEqual([])
    // The new worker serves.
    const fresh = await agentOnWorker(node.base, token, 2)
    const served = await call(
      node.base,
      '/v1/query',
      { sql: 'select 1 as n' },
      { token, agent: fresh },
    )
    expect(served.status).toBe(200)
    fresh.destroy()
  })

  it('answers an admin action whose worker dies meanwhile with the others, naming the worker lost; its replacement holds the pause', async () => {
    const onTwo = await agentOnWorker(node.base, token, 2)
    const begun = await call(
      node.base,
      '/v1/transactions',
      { idleTimeoutMs: 60_000 },
      { token, agent: onTwo },
    )
    expect(ownerOf(begun.body.id)?.worker).toBe(2)
    const victim = (await workerPids(node.base)).get(2)!
    // Worker 2's pause waits for the connection its transaction holds.
    const pausing = call(
      node.base,
      '/admin/tenants/main/pause?waitMs=20000',
      {},
      {
        token: ADMIN,
        agent: one,
      },
    )
    await eventually(async () => {
      const held = await call(node.base, '/v1/query', { sql: 'select 1' }, { token, agent: onTwo })
      return held.body.error?.code === 'TENANT_PAUSED'
    })
    process.kill(victim, 'SIGKILL')
    onTwo.destroy()
    try {
      const paused = await pausing
      expect(paused.status).toBe(200)
      expect(paused.body).toMatchObject({ name: 'main', paused: true })
      expect(paused.body.nodes).toEqual([
        {
          node: `127.0.0.1:${port}`,
          ok: false,
          workers: 2,
          error: expect.stringMatching(/^worker 2 exited/),
        },
      ])
      // The worker started in its place (it listens once its share shows) holds the tenant
      // paused too, as the others do.
      await eventually(async () => {
        const text = (await call(node.base, '/metrics', undefined, { agent: one })).body as string
        return metricValue(text, 'sluice_pool_max_connections', { tenant: 'main' }) === 8
      }, 20_000)
      const tenant = await call(node.base, '/admin/tenants/main', undefined, {
        token: ADMIN,
        agent: one,
      })
      expect(tenant.body).toMatchObject({ paused: true, nodes: [{ ok: true, workers: 2 }] })
    } finally {
      await call(node.base, '/admin/tenants/main/resume', {}, { token: ADMIN, agent: one })
    }
  })
})

describe('a node with two workers, stopped while one of them starts', () => {
  let dir: string
  let node: NodeProcess | undefined
  afterAll(async () => {
    if (node) await node.stop()
    killChildren()
    await rm(dir, { recursive: true, force: true })
  })

  it('drains the starting worker too, once it listens, and exits 0', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-workers-'))
    const port = await freePort()
    node = await startNode(join(dir, 'sluice.json'), config(port, await freePort()))
    const nodes = async () =>
      (await call(node!.base, '/admin/nodes', undefined, { token: ADMIN })).body.nodes[0]
        .workerList as { index: number; pid: number; incarnation: number }[]
    const victim = (await nodes()).find((w) => w.index === 2)!
    const primary = node.child.child.pid!
    const children = async () =>
      (await readFile(`/proc/${primary}/task/${primary}/children`, 'utf8'))
        .split(' ')
        .filter((pid) => pid !== '')
        .map(Number)
    const before = new Set(await children())
    process.kill(victim.pid, 'SIGKILL')
    // Caught as soon as its replacement runs, long before it listens. Not earlier: between
    // fork and exec the primary waits (libuv reads a pipe until the exec), and a child stopped
    // there would block the primary itself. Once exec'd, a worker's environment names it.
    const execd = async (pid: number) =>
      (await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '')).includes('NODE_UNIQUE_ID=')
    let starting: number | undefined
    while (starting === undefined) {
      const candidate = (await children()).find((pid) => !before.has(pid))
      if (candidate !== undefined && (await execd(candidate))) starting = candidate
      else await new Promise((resolve) => setTimeout(resolve, 2))
    }
    process.kill(starting, 'SIGSTOP')
    try {
      const runDirs = (await readdir(tmpdir())).filter((name) =>
        name.startsWith(`sluice-${primary}-`),
      )
      const sockets = (
        await Promise.all(runDirs.map((name) => readdir(join(tmpdir(), name))))
      ).flat()
      const old = `worker-2-${victim.incarnation.toString(16)}.sock`
      expect(sockets.filter((name) => name.startsWith('worker-2-') && name !== old)).toEqual([])
      node.child.child.kill('SIGTERM')
      await node.child.printed('draining for')
    } finally {
      process.kill(starting, 'SIGCONT')
    }
    expect((await node.child.exited).code).toBe(0)
    node = undefined
  }, 60_000)
})

describe('a node with two workers, reloaded while one of them starts', () => {
  let dir: string
  let node: NodeProcess | undefined
  let gate: Server
  afterAll(async () => {
    await node?.stop()
    killChildren()
    gate?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('brings the starting worker to the reloaded config once it listens', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-workers-'))
    // A way to the database that can hold new connections: a worker opening its pool waits.
    const target = new URL(databaseUrl())
    let hold = false
    const held: (() => void)[] = []
    let arrived!: () => void
    const heldOne = new Promise<void>((resolve) => (arrived = resolve))
    gate = createServer((client) => {
      const through = () => {
        const upstream = connect(Number(target.port), target.hostname)
        for (const socket of [client, upstream]) socket.on('error', () => {})
        client.pipe(upstream).pipe(client)
      }
      if (!hold) return through()
      held.push(through)
      arrived()
    })
    await new Promise<void>((resolve) => gate.listen(0, '127.0.0.1', () => resolve()))
    const gated = new URL(target)
    gated.port = String((gate.address() as AddressInfo).port)
    const withGated = (extra: { token: string }[] = []): ConfigInput => {
      const base = config(port, pgPort, extra)
      base.tenants!.gated = {
        connection: { url: gated.toString(), connectTimeoutMs: 60_000 },
        allowPrivilegedRole: true,
        pool: { min: 2, max: 2 },
        tokens: [{ token: newToken() }],
      }
      return base
    }
    const port = await freePort()
    const pgPort = await freePort()
    node = await startNode(join(dir, 'sluice.json'), withGated())
    const victim = (await workerPids(node.base)).get(2)!
    hold = true
    process.kill(victim, 'SIGKILL')
    // The new worker 2 has its start (the config in force) and waits for its pool.
    await heldOne
    const added = newToken()
    await writeFile(node.file, JSON.stringify(withGated([{ token: added }])))
    const reloaded = await call(node.base, '/admin/reload', {}, { token: ADMIN })
    expect(reloaded.status).toBe(200)
    hold = false
    for (const through of held) through()
    let onTwo: Agent | undefined
    await eventually(async () => {
      onTwo = await agentOnWorker(node!.base, token, 2).catch(() => undefined)
      return onTwo !== undefined
    }, 20_000)
    try {
      // Applied as soon as it listens: at the latest, just after this connection found it.
      await eventually(async () => {
        const answer = await call(
          node!.base,
          '/v1/query',
          { sql: 'select 1' },
          { token: added, agent: onTwo! },
        )
        return answer.status === 200
      }, 5000)
    } finally {
      onTwo!.destroy()
    }
  }, 60_000)
})

/** A way to the database that counts the connections through it, and can hold new ones. */
interface Gate {
  readonly url: string
  /** Connections opened through it. */
  opened(): number
  /** Holds new connections from now on; resolves when the first one arrives. */
  hold(): Promise<void>
  /** Lets the held connections through, and the new ones. */
  release(): void
  close(): Promise<void>
}

async function startGate(): Promise<Gate> {
  const target = new URL(databaseUrl())
  const sockets = new Set<Socket>()
  const waiting: (() => void)[] = []
  let opened = 0
  let arrived: (() => void) | undefined
  const server = createServer((client) => {
    opened++
    const through = () => {
      const upstream = connect(Number(target.port), target.hostname)
      for (const socket of [client, upstream]) {
        sockets.add(socket)
        socket.on('error', () => {})
        socket.on('close', () => sockets.delete(socket))
      }
      client.pipe(upstream).pipe(client)
    }
    if (!arrived) return through()
    waiting.push(through)
    arrived()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const url = new URL(target)
  url.port = String((server.address() as AddressInfo).port)
  return {
    url: url.toString(),
    opened: () => opened,
    hold: () => new Promise<void>((resolve) => (arrived = resolve)),
    release() {
      arrived = undefined
      for (const through of waiting.splice(0)) through()
    },
    async close() {
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

describe('a node with two workers, one of them restarted while a tenant is paused', () => {
  let dir: string
  let node: NodeProcess
  // The paused tenant's way to the database, and another tenant's that can make a worker
  // wait before it listens.
  let quiet: Gate
  let held: Gate
  const quietToken = newToken()
  const pause = (name: string) =>
    call(node.base, `/admin/tenants/${name}/pause`, {}, { token: ADMIN })
  const resume = (name: string) =>
    call(node.base, `/admin/tenants/${name}/resume`, {}, { token: ADMIN })
  /**
   * Kills worker 2; resolves once the primary saw it exit (the view no longer lists it),
   * asking through a connection worker 1 holds: until then the primary may hand a new
   * connection to the dead worker, where node:cluster loses it (it waits for a reply that
   * never comes).
   */
  const killWorkerTwo = async () => {
    const one = await agentOnWorker(node.base, token, 1)
    const workerTwo = async () =>
      (
        await call(node.base, '/admin/nodes', undefined, { token: ADMIN, agent: one })
      ).body.nodes[0].workerList.find((w: { index: number }) => w.index === 2) as
        { pid: number } | undefined
    try {
      const victim = (await workerTwo())!.pid
      process.kill(victim, 'SIGKILL')
      await eventually(async () => (await workerTwo())?.pid !== victim, 20_000)
    } finally {
      one.destroy()
    }
  }
  /** A connection on worker 2 once it serves (the tenant `main` is never paused here). */
  const onWorkerTwo = async () => {
    let agent: Agent | undefined
    await eventually(async () => {
      agent = await agentOnWorker(node.base, token, 2).catch(() => undefined)
      return agent !== undefined
    }, 20_000)
    return agent!
  }
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-workers-'))
    quiet = await startGate()
    held = await startGate()
    const port = await freePort()
    const withGates = config(port, await freePort())
    withGates.tenants!.quiet = {
      connection: { url: quiet.url },
      allowPrivilegedRole: true,
      // One connection per worker, always open unless paused.
      pool: { min: 2, max: 2, acquireTimeoutMs: 1000 },
      tokens: [{ token: quietToken }],
    }
    withGates.tenants!.held = {
      connection: { url: held.url, connectTimeoutMs: 60_000 },
      allowPrivilegedRole: true,
      pool: { min: 2, max: 2 },
      tokens: [{ token: newToken() }],
    }
    node = await startNode(join(dir, 'sluice.json'), withGates)
  })
  afterAll(async () => {
    held?.release()
    await node?.stop()
    killChildren()
    await Promise.all([quiet?.close(), held?.close()])
    await rm(dir, { recursive: true, force: true })
  })

  it("starts the replacement with the tenant paused: it opens none of the tenant's connections and holds its requests from the first", async () => {
    // Each worker opened its share of pool.min before it listened.
    expect(quiet.opened()).toBe(2)
    expect((await pause('quiet')).body).toMatchObject({ paused: true, settled: true })
    const opened = quiet.opened()
    await killWorkerTwo()
    const onTwo = await onWorkerTwo()
    try {
      const first = await call(
        node.base,
        '/v1/query',
        { sql: 'select 1' },
        { token: quietToken, agent: onTwo },
      )
      expect(first.status).toBe(503)
      expect(first.body.error.code).toBe('TENANT_PAUSED')
      expect(quiet.opened()).toBe(opened)
      const report = await call(node.base, '/admin/tenants/quiet', undefined, { token: ADMIN })
      expect(report.body).toMatchObject({ paused: true, nodes: [{ ok: true, workers: 2 }] })
      // Resumed, it opens its share and serves.
      expect((await resume('quiet')).body.paused).toBe(false)
      const served = await call(
        node.base,
        '/v1/query',
        { sql: 'select 1' },
        { token: quietToken, agent: onTwo },
      )
      expect(served.status).toBe(200)
    } finally {
      onTwo.destroy()
    }
  }, 60_000)

  it('brings the replacement to a resume sent while it started', async () => {
    expect((await pause('quiet')).status).toBe(200)
    const waiting = held.hold()
    await killWorkerTwo()
    // The new worker 2 has its start (the tenant paused) and waits for another pool.
    await waiting
    // Only worker 1, listening, hears it.
    expect((await resume('quiet')).body.paused).toBe(false)
    held.release()
    const onTwo = await onWorkerTwo()
    try {
      // Resumed as soon as it listens: at the latest, just after this connection found it.
      await eventually(async () => {
        const answer = await call(
          node.base,
          '/v1/query',
          { sql: 'select 1' },
          { token: quietToken, agent: onTwo },
        )
        return answer.status === 200
      }, 5000)
    } finally {
      onTwo.destroy()
    }
  }, 60_000)
})
