/**
 * What a wire client's named statements leave behind once it is gone: each backend remembers
 * the statements prepared on it for every later client (up to `pool.preparedMax`), so what it
 * keeps of each must not be the statement's text, which may be a megabyte; and the ended
 * session itself, with its statements, must not outlive its socket.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pgClient, startWireGateway, type WireGateway } from '../../helpers/wire.js'

describe("a wire client's prepared statements", () => {
  let t: WireGateway
  beforeAll(async () => {
    t = await startWireGateway({ pool: { min: 1, max: 1, preparedMax: 100 } })
  })
  afterAll(() => t?.close())

  it('leave their backend holding no copy of their text once the client is gone', async () => {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    const padding = 'x'.repeat(1000 * 1024)
    // Warm up: the first session's buffers and code are not what is measured.
    const warm = await pgClient(t)
    await warm.query({ name: 'warm', text: 'select 1 as n' })
    await warm.end()
    gc()
    const before = process.memoryUsage().heapUsed
    for (let i = 0; i < 24; i++) {
      const client = await pgClient(t)
      const { rows } = await client.query({
        name: 'big',
        text: `select ${i} as n /* ${padding} */`,
      })
      expect(rows).toEqual([{ n: i }])
      await client.end()
    }
    await new Promise((resolve) => setImmediate(resolve))
    gc()
    // 23 MiB of statement text went through one backend; it may keep its names, not the texts.
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(8 * 1024 * 1024)
  })
})
