/**
 * A node's workers share the channel's key without any configured: the primary's secret
 * reaches each worker, and the key is derived from it. So each worker verifies the others'
 * messages, serves from memory, and waits for their acknowledgements: a write through one
 * worker is never read stale through the other.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import type { Agent } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../../../server/embedded/free-port.js'
import { createDatabase, type TestDatabase } from '../../helpers/cache.js'
import { killChildren } from '../../helpers/cli.js'
import { agentOnWorker, call, startNode, type NodeProcess } from '../../helpers/cluster.js'
import { eventually, newToken } from '../../helpers/gateway.js'

const adminToken = newToken()
const token = newToken()
let db: TestDatabase
let dir: string
let node: NodeProcess
let one: Agent
let two: Agent

const report = async () =>
  (await call(node.base, '/admin/tenants/main', undefined, { token: adminToken })).body.cache
const read = (agent: Agent) =>
  call(
    node.base,
    '/v1/query',
    { sql: 'select v from kv where k = 1', cache: { ttlMs: 600_000 } },
    { token, agent },
  )

beforeAll(async () => {
  db = await createDatabase('cache_workers')
  await db.sql(`create table kv (k int primary key, v text); insert into kv values (1, 'old')`)
  dir = await mkdtemp(join(tmpdir(), 'sluice-cache-workers-'))
  node = await startNode(join(dir, 'sluice.json'), {
    server: { port: await freePort(), workers: 2, adminToken, log: { level: 'warn' } },
    tenants: {
      main: {
        connection: { url: db.url },
        allowPrivilegedRole: true,
        pool: { min: 0, max: 4 },
        tokens: [{ token }],
        cache: { enabled: true },
      },
    },
  })
  one = await agentOnWorker(node.base, token, 1)
  two = await agentOnWorker(node.base, token, 2)
  // Live in every worker (the node's report is live only where each worker is).
  await eventually(async () => (await report())?.live === true)
}, 60_000)

afterAll(async () => {
  one?.destroy()
  two?.destroy()
  await node?.stop()
  killChildren()
  await db?.drop()
  await rm(dir, { recursive: true, force: true })
})

describe("a node's workers", () => {
  it('verify each other on the channel, serve from memory and never read a write stale', async () => {
    for (const agent of [one, two]) {
      await read(agent)
      const again = await read(agent)
      expect(again.headers['sluice-cache']).toBe('hit')
      expect(again.body.rows).toEqual([['old']])
    }
    const write = await call(
      node.base,
      '/v1/query',
      { sql: "update kv set v = 'new' where k = 1" },
      { token, agent: one },
    )
    expect(write.status).toBe(200)
    expect((await read(two)).body.rows).toEqual([['new']])
    const cache = await report()
    expect(cache.rejected).toEqual({ signature: 0, replay: 0 })
    expect(cache.live).toBe(true)
  })
})
