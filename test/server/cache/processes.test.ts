/**
 * Two `sluice serve` processes on one database, each with its own cache: a write through
 * either one, by any route, is never followed by a read (through either one) of the old
 * value; and writes made outside Sluice reach both through `sluice cache install-triggers`.
 * The second process reaches PostgreSQL through a proxy that adds 15 ms each way (a gateway
 * in another zone), so its notifications arrive well after the first process could answer a
 * write: only waiting for its acknowledgement keeps its reads fresh.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDatabase, post, type TestDatabase } from '../../helpers/cache.js'
import { killChildren, sluice, startSluice, type Child } from '../../helpers/cli.js'
import { eventually, newToken } from '../../helpers/gateway.js'
import { freePort } from '../../setup/postgres.js'
import { startLatencyProxy, type LatencyProxy } from '../../../bench/lib/latency-proxy.js'

const token = newToken()
const adminToken = newToken()
// Separate processes on one database share the cache channel's key (docs/cache.md).
const cacheSecret = newToken() + newToken()
let db: TestDatabase
let dir: string
let file: string
let proxy: LatencyProxy
const gateways: { child: Child; base: string; pgPort: number }[] = []

/** A small seeded generator, so a failing interleaving can be replayed (its seed is printed). */
function random(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0
    return state / 2 ** 32
  }
}

async function live(base: string): Promise<boolean> {
  const response = await fetch(`${base}/admin/tenants/main`, {
    headers: { authorization: `Bearer ${adminToken}` },
  })
  return response.ok && (await response.json()).cache?.live === true
}

beforeAll(async () => {
  db = await createDatabase('cache_procs')
  await db.sql(`create table kv (k int primary key, v int not null);
    insert into kv select g, 0 from generate_series(1, 8) g`)
  dir = await mkdtemp(join(tmpdir(), 'sluice-cache-'))
  proxy = await startLatencyProxy(Number(new URL(db.url).port), 15)
  const far = new URL(db.url)
  far.port = String(proxy.port)
  const files: string[] = []
  for (const [i, url] of [db.url, far.toString()].entries()) {
    files.push(join(dir, `sluice-${i}.json`))
    await writeFile(
      files[i]!,
      JSON.stringify({
        server: { adminToken, cacheSecret, log: { level: 'warn' } },
        tenants: {
          main: {
            allowPrivilegedRole: true,
            connection: { url },
            pool: { min: 1, max: 4 },
            // The four writers below may all be in a transaction on one process at once.
            transactions: { maxOpenShare: 1 },
            tokens: [{ token }],
            cache: { enabled: true },
          },
        },
      }),
    )
  }
  file = files[0]!
  for (const config of files) {
    const [port, pgPort] = [await freePort(), await freePort()]
    const child = startSluice(['--config', config], {
      env: { PORT: String(port), SLUICE_PG_PORT: String(pgPort) },
    })
    const base = `http://127.0.0.1:${port}`
    await child.printed(`listening on ${base}`)
    gateways.push({ child, base, pgPort })
  }
  for (const { base } of gateways) await eventually(() => live(base))
}, 90_000)

afterAll(async () => {
  for (const { child } of gateways) child.child.kill('SIGTERM')
  await Promise.all(gateways.map(({ child }) => child.exited))
  killChildren()
  await proxy?.close()
  await db?.drop()
  await rm(dir, { recursive: true, force: true })
})

/** Writes `v` for key `k` through `base`, by one of every route a write can take. */
async function write(route: number, base: string, pgPort: number, k: number, v: number) {
  const sql = 'update kv set v = $1 where k = $2'
  switch (route) {
    case 0:
      return expect((await post(base, '/v1/query', { sql, params: [v, k] }, token)).status).toBe(
        200,
      )
    case 1: {
      const batch = { statements: [{ sql: 'select 1' }, { sql, params: [v, k] }] }
      return expect((await post(base, '/v1/batch', batch, token)).status).toBe(200)
    }
    case 2: {
      const begun = await post(base, '/v1/transactions', {}, token)
      expect(begun.status, JSON.stringify(begun.body)).toBe(201)
      const id = begun.body.id
      await post(base, `/v1/transactions/${id}/query`, { sql, params: [v, k] }, token)
      const commit = await post(base, `/v1/transactions/${id}/commit`, {}, token)
      return expect(commit.body).toEqual({ committed: true })
    }
    case 3: {
      const neon = await post(base, '/sql', { query: sql, params: [v, k] }, token)
      return expect(neon.status).toBe(200)
    }
    default: {
      const client = new pg.Client({
        host: '127.0.0.1',
        port: pgPort,
        user: 'main',
        password: token,
        database: 'main',
      })
      await client.connect()
      try {
        await client.query(sql, [v, k])
      } finally {
        await client.end()
      }
    }
  }
}

const readKey = (base: string, k: number) =>
  post(
    base,
    '/v1/query',
    { sql: 'select v from kv where k = $1', params: [k], cache: { ttlMs: 600_000 } },
    token,
  )

describe('two gateway processes on one database', () => {
  it('never answer a read that starts after a completed write with the old value', async () => {
    const seed = Date.now() % 1_000_000
    const next = random(seed)
    let hits = 0
    const stale: string[] = []
    const worker = async (k: number) => {
      let value = 0
      for (let round = 0; round < 12; round++) {
        // Both caches hold the current value...
        for (const g of gateways) {
          const answer = await readKey(g.base, k)
          if (answer.cache === 'hit') hits++
          if (answer.body.rows[0][0] !== String(value)) stale.push(`k${k} before round ${round}`)
        }
        // ...a write goes through either process, by any route...
        const writer = gateways[Math.floor(next() * 2)]!
        const route = Math.floor(next() * 5)
        value++
        await write(route, writer.base, writer.pgPort, k, value)
        // ...and no read after it, through either process, sees the old value.
        for (const g of next() < 0.5 ? gateways : [...gateways].reverse()) {
          const answer = await readKey(g.base, k)
          if (answer.body.rows[0][0] !== String(value))
            stale.push(
              `k${k} round ${round} route ${route}: ${answer.cache} ${answer.body.rows[0][0]}, wrote ${value}`,
            )
        }
      }
    }
    await Promise.all([1, 2, 3, 4].map(worker))
    expect(stale, `seed ${seed}`).toEqual([])
    // The old values were really cached in both processes: the test could fail.
    expect(hits).toBeGreaterThan(20)
  })

  it('hear about writes made outside Sluice once the triggers are installed', async () => {
    const run = await sluice(['cache', 'install-triggers', '--config', file])
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/statement triggers on 1 table/)
    for (const g of gateways) {
      expect((await readKey(g.base, 8)).body.rows).toEqual([['0']])
      expect((await readKey(g.base, 8)).cache).toBe('hit')
    }
    await db.sql('update kv set v = 42 where k = 8')
    // Delivered at the notification's pace: wait for each process to apply it.
    for (const g of gateways) {
      await eventually(async () => (await readKey(g.base, 8)).body.rows[0][0] === '42')
    }
    const removed = await sluice(['cache', 'remove-triggers', '--config', file])
    expect(removed.code).toBe(0)
    expect(
      (
        await db.sql(
          `select count(*)::int as n from pg_trigger where tgname = 'sluice_cache_notify'`,
        )
      )[0].n,
    ).toBe(0)
  })
})
