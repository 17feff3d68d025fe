import { startDatabase } from './bench/lib/postgres.ts'
import { createGateway } from './server/gateway.ts'
import { parseConfig } from './server/config/load.ts'
import { runQuery } from './server/engine/run.ts'
const db = await startDatabase(100)
const token = 'x'.repeat(20)
for (const cache of [false, true, false, true]) {
  const g = createGateway(parseConfig({ tenants: { t: { connection: { url: db.url }, pool: { min: 8, max: 8 }, tokens: [{ token }], cache: { enabled: cache } } } }, {}))
  await g.start()
  const tenant = g.tenants.get('t')!
  const ctx = { tenant, principal: { tenant: 't', role: 'readwrite' as const, tokenHash: '' } }
  const until = performance.now() + 3000
  let n = 0
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (performance.now() < until) { await runQuery(ctx, { sql: 'update items set score = score + 1 where id = $1', params: [1 + Math.floor(Math.random() * 100000)] }); n++ }
  }))
  console.log('cache', cache, (n / 3).toFixed(0), 'writes/s')
  await g.close(1000)
}
await db.stop()
